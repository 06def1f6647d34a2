// What `meskit doctor` says about a connection's encryption: whether it is TLS, the protocol,
// and when the server's certificate expires. Read from the connected socket itself, whatever
// client opened it (pg, ioredis, amqplib, node:https), so it reports what was negotiated, not
// what the URL asked for.
import { TLSSocket } from 'node:tls';
import type { CheckOutcome } from './types.js';

/** A certificate that expires within this many days makes a passing check a warning. */
export const CERT_EXPIRY_WARN_DAYS = 14;

export interface TlsFacts {
  readonly encrypted: boolean;
  /** `TLSv1.3`… when encrypted. */
  readonly protocol?: string;
  /** The server certificate's notAfter, ISO 8601. */
  readonly certificateExpires?: string;
  /** Whole days from now to certificateExpires (negative: expired). */
  readonly certificateDaysLeft?: number;
  /** The certificate's subject CN, for the message. */
  readonly certificateSubject?: string;
}

const DAY_MS = 86_400_000;

/** The facts of a connected socket (`undefined` or a plain socket: not encrypted). */
export function tlsFactsOf(socket: unknown, now = Date.now()): TlsFacts {
  if (!(socket instanceof TLSSocket)) return { encrypted: false };
  const protocol = socket.getProtocol() ?? undefined;
  const certificate = socket.getPeerCertificate();
  const validTo = certificate?.valid_to ? new Date(certificate.valid_to) : undefined;
  if (validTo === undefined || Number.isNaN(validTo.getTime()))
    return { encrypted: true, ...(protocol ? { protocol } : {}) };
  const subject = certificate.subject?.CN;
  return {
    encrypted: true,
    ...(protocol ? { protocol } : {}),
    certificateExpires: validTo.toISOString(),
    certificateDaysLeft: Math.floor((validTo.getTime() - now) / DAY_MS),
    ...(typeof subject === 'string' ? { certificateSubject: subject } : {}),
  };
}

/** `TLS (TLSv1.3), certificate valid until 2027-03-01 (88 days)` or `not encrypted`. */
export function describeTls(facts: TlsFacts): string {
  if (!facts.encrypted) return 'not encrypted';
  const protocol = facts.protocol ? `TLS (${facts.protocol})` : 'TLS';
  if (facts.certificateExpires === undefined) return protocol;
  const days = facts.certificateDaysLeft ?? 0;
  const left =
    days < 0 ? `expired ${-days} day(s) ago` : `${days} day${days === 1 ? '' : 's'} left`;
  return `${protocol}, certificate valid until ${facts.certificateExpires.slice(0, 10)} (${left})`;
}

/** Whether the certificate expires soon enough (or did) to warn. */
export function expiresSoon(facts: TlsFacts): boolean {
  return (
    facts.certificateDaysLeft !== undefined && facts.certificateDaysLeft < CERT_EXPIRY_WARN_DAYS
  );
}

/**
 * `outcome` with the connection's encryption in its message and details; a passing check
 * whose certificate expires within CERT_EXPIRY_WARN_DAYS becomes a warning saying so.
 */
export function withTls(outcome: CheckOutcome, facts: TlsFacts): CheckOutcome {
  const tls = describeTls(facts);
  const details = { ...outcome.details, tls: facts };
  if (outcome.status === 'pass' && expiresSoon(facts))
    return {
      status: 'warn',
      message: `${outcome.message}; ${tls}: renew the server's certificate before it expires`,
      details,
    };
  return { ...outcome, message: `${outcome.message}; ${tls}`, details };
}
