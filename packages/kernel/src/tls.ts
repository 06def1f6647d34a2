// TLS to the MES's servers (PostgreSQL, Redis, RabbitMQ), shared so that every package reads
// the same URL parameters, refuses the same bad values and explains a failed verification the
// same way. The URL parsers are in tls-urls.ts; this file has what they share: the error, the
// settings they return, reading the PEM files, describing a verification failure, and a
// certificate's expiry.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { PeerCertificate } from 'node:tls';
import { MeskitError, redactUrl } from './errors.js';
import { emitWarning } from './warnings.js';

/**
 * - `TLS_BAD_PARAMETER`: a TLS parameter of a URL has a value the client cannot use (or asks
 *   for TLS on a plain `redis://`/`amqp://` URL).
 * - `TLS_FILE_UNREADABLE`: a CA, certificate or key file named in a URL cannot be read.
 * - `TLS_BAD_CERTIFICATE`: a CA or certificate file holds no PEM certificate.
 * - `TLS_VERIFY_FAILED`: the server's certificate was refused (unknown CA, another host name,
 *   expired).
 * - `TLS_HANDSHAKE_FAILED`: no TLS session (e.g. a TLS client on a plain port).
 */
export type TlsErrorCode =
  | 'TLS_BAD_PARAMETER'
  | 'TLS_FILE_UNREADABLE'
  | 'TLS_BAD_CERTIFICATE'
  | 'TLS_VERIFY_FAILED'
  | 'TLS_HANDSHAKE_FAILED';

export class TlsError extends MeskitError<TlsErrorCode> {
  /** `host:port` of the server, for verification and handshake failures. */
  readonly endpoint: string | undefined;
  /** Node's or OpenSSL's code (`UNABLE_TO_VERIFY_LEAF_SIGNATURE`...), for those failures. */
  readonly reason: string | undefined;

  constructor(
    code: TlsErrorCode,
    message: string,
    options: { cause?: unknown; endpoint?: string; reason?: string } = {},
  ) {
    super(code, message, { cause: options.cause });
    this.endpoint = options.endpoint;
    this.reason = options.reason;
  }
}

/** What `node:tls` `connect()` takes: ioredis's `tls` option, amqplib's socket options, pg's `ssl`. */
export interface ClientTlsOptions {
  /** Trusted CAs (PEM). Absent: Node's bundled CAs, plus NODE_EXTRA_CA_CERTS. */
  ca?: string;
  /** A client certificate (PEM), for servers that ask for one. */
  cert?: string;
  key?: string;
  /** SNI and the name the certificate is checked against, when not the URL's host. */
  servername?: string;
  /** False: any certificate is accepted (no verification at all). */
  rejectUnauthorized: boolean;
  /** Set only to skip the host name check (the chain is still verified). */
  checkServerIdentity?: (host: string, cert: PeerCertificate) => Error | undefined;
}

export type TlsServer = 'postgres' | 'redis' | 'amqp';

/** What a connection URL asks for, as the client will do it. */
export interface TlsSettings {
  server: TlsServer;
  /** Whether the connection is encrypted. */
  enabled: boolean;
  /** `full`: chain and host name; `chain`: the chain only; `none`: any certificate. */
  verify: 'full' | 'chain' | 'none';
  /** Where trusted CAs come from: the URL's CA file, or Node's (bundled, NODE_EXTRA_CA_CERTS). */
  trust: 'file' | 'system';
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  /** The name the certificate must carry, when not the URL's host. */
  servername?: string;
  /** The URL to give the client: the parameters meskit read removed (PostgreSQL: unchanged). */
  url: string;
  /** The options for `tls.connect`, files read; undefined when not encrypted. */
  options: ClientTlsOptions | undefined;
}

/** The settings of an unencrypted connection. */
export function plainSettings(server: TlsServer, url: string): TlsSettings {
  return { server, enabled: false, verify: 'none', trust: 'system', url, options: undefined };
}

/** The text of a file a URL parameter names; TLS_FILE_UNREADABLE naming both when it fails. */
export function readTlsFile(parameter: string, file: string, url: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    const why = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new TlsError(
      'TLS_FILE_UNREADABLE',
      `cannot read ${parameter}=${file} of ${redactUrl(url)} (${why}): give the path of a PEM file this process can read`,
      { cause: error },
    );
  }
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The certificates of a PEM text (a bundle holds several); TLS_BAD_CERTIFICATE when none. */
export function parseCertificates(pem: string | Buffer, source: string): X509Certificate[] {
  const blocks = String(pem).match(PEM_CERTIFICATE) ?? [];
  try {
    const certificates = blocks.map((block) => new X509Certificate(block));
    if (certificates.length > 0) return certificates;
  } catch (error) {
    throw new TlsError('TLS_BAD_CERTIFICATE', `${source} holds an invalid PEM certificate`, {
      cause: error,
    });
  }
  throw new TlsError(
    'TLS_BAD_CERTIFICATE',
    `${source} holds no PEM certificate (-----BEGIN CERTIFICATE-----): give a CA or certificate file in PEM form`,
  );
}

/** A CA or certificate file's text, checked to hold PEM certificates. */
export function readCertificateFile(parameter: string, file: string, url: string): string {
  const pem = readTlsFile(parameter, file, url);
  parseCertificates(pem, `${parameter}=${file}`);
  return pem;
}

export interface CertificateExpiry {
  /** When the certificate that expires first stops being valid. */
  notAfter: Date;
  notBefore: Date;
  /** Its subject and issuer, as OpenSSL prints them (`CN=...`). */
  subject: string;
  issuer: string;
  /** Whole days from `now` to notAfter (negative: expired). */
  daysLeft: number;
  /** How many certificates the PEM holds (a CA bundle holds many). */
  certificates: number;
}

/**
 * The expiry of a PEM certificate, or of the one that expires first in a bundle (the CA file
 * of a managed service often holds dozens). Throws TLS_BAD_CERTIFICATE when there is none.
 */
export function certificateExpiry(
  pem: string | Buffer,
  now: number = Date.now(),
): CertificateExpiry {
  const certificates = parseCertificates(pem, 'the PEM text');
  const first = certificates
    .map((certificate) => ({ certificate, notAfter: new Date(certificate.validTo) }))
    .sort((a, b) => a.notAfter.getTime() - b.notAfter.getTime())[0]!;
  return {
    notAfter: first.notAfter,
    notBefore: new Date(first.certificate.validFrom),
    subject: first.certificate.subject.replace(/\n/g, ', '),
    issuer: first.certificate.issuer.replace(/\n/g, ', '),
    daysLeft: Math.floor((first.notAfter.getTime() - now) / 86_400_000),
    certificates: certificates.length,
  };
}

/** What went wrong, per Node/OpenSSL verification code. */
const VERIFY_REASONS: Record<string, string> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    "the server's certificate is not signed by a CA this client trusts",
  SELF_SIGNED_CERT_IN_CHAIN:
    "the server's certificate chain ends in a CA this client does not trust",
  DEPTH_ZERO_SELF_SIGNED_CERT:
    'the server presents a self-signed certificate this client does not trust',
  UNABLE_TO_GET_ISSUER_CERT: "the issuer of the server's certificate is not trusted",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "the issuer of the server's certificate is not trusted",
  CERT_HAS_EXPIRED: "the server's certificate has expired",
  CERT_NOT_YET_VALID: "the server's certificate is not valid yet (check the clocks)",
  CERT_SIGNATURE_FAILURE: "the server's certificate signature is invalid",
  ERR_TLS_CERT_ALTNAME_INVALID: "the server's certificate is not for this host name",
};

/** How to trust the server's CA, per server: the URL parameter that names a CA file. */
const TRUST_HINT: Record<TlsServer, string> = {
  postgres: 'sslrootcert=<CA file> with sslmode=verify-full',
  redis: 'ssl_ca_certs=<CA file>',
  amqp: 'cacertfile=<CA file>',
};

function serverOf(url: string): TlsServer | undefined {
  const scheme = /^([a-z]+):/i.exec(url)?.[1]?.toLowerCase();
  if (scheme === 'postgres' || scheme === 'postgresql') return 'postgres';
  if (scheme === 'redis' || scheme === 'rediss') return 'redis';
  if (scheme === 'amqp' || scheme === 'amqps') return 'amqp';
  return undefined;
}

function endpointOf(url: string): string {
  try {
    const parsed = new URL(url);
    return parsed.port ? `${parsed.hostname}:${parsed.port}` : parsed.hostname;
  } catch {
    return '<unparseable URL>';
  }
}

/** The first error in `error`'s cause chain with a code (clients wrap the socket's error). */
function codedError(error: unknown): (Error & { code?: unknown }) | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    if (typeof (current as { code?: unknown }).code === 'string') return current;
    current = current.cause;
  }
  return undefined;
}

/**
 * A failed connection's error as a TlsError naming the server and the reason, when it is a
 * TLS failure (verification or handshake); undefined for anything else (refused, timed out).
 * `url` is the connection URL (its password is never shown).
 */
export function tlsFailure(error: unknown, url: string): TlsError | undefined {
  if (error instanceof TlsError) return error;
  const coded = codedError(error);
  if (!coded) return undefined;
  const reason = String(coded.code);
  const endpoint = endpointOf(url);
  const server = serverOf(url);
  const known = VERIFY_REASONS[reason];
  if (known !== undefined) {
    const detail = reason === 'ERR_TLS_CERT_ALTNAME_INVALID' ? ` (${coded.message})` : '';
    const fix =
      reason === 'ERR_TLS_CERT_ALTNAME_INVALID'
        ? 'connect with a host name the certificate lists'
        : `trust the CA that signed it with ${server ? TRUST_HINT[server] : 'its CA file'} in the URL, or NODE_EXTRA_CA_CERTS=<CA file>`;
    return new TlsError(
      'TLS_VERIFY_FAILED',
      `TLS verification of ${endpoint} failed: ${known}${detail} [${reason}]; ${fix}`,
      { cause: error, endpoint, reason },
    );
  }
  if (/^ERR_SSL_|^ERR_TLS_/.test(reason) || reason === 'EPROTO') {
    return new TlsError(
      'TLS_HANDSHAKE_FAILED',
      `TLS handshake with ${endpoint} failed (${coded.message}) [${reason}]: is this the server's TLS port?`,
      { cause: error, endpoint, reason },
    );
  }
  return undefined;
}

/** What warnOnTlsFailure needs of a client: ioredis's `Redis`, a `pg.Pool`... */
export interface ErrorEmitter {
  on(event: 'error', listener: (error: Error) => void): unknown;
}

/**
 * Warns once (`code`, naming `what` and the failure) when `client` emits a TLS failure: a
 * reconnecting client (ioredis) would otherwise retry a certificate it will never accept
 * without anyone hearing why. Other errors are left to the caller's own listeners.
 */
export function warnOnTlsFailure(
  client: ErrorEmitter,
  opts: { url: string; code: string; what: string },
): void {
  let warned = false;
  client.on('error', (error) => {
    if (warned) return;
    const failure = tlsFailure(error, opts.url);
    if (!failure) return;
    warned = true;
    emitWarning(
      opts.code,
      `${opts.what}: ${failure.message}. The client keeps retrying; said once per client.`,
    );
  });
}
