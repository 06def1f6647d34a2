import pg from 'pg';
import { redactUrl, tlsFailure } from '@meskit/kernel';
import { MesError } from '../errors.js';
import { reasonOf, type Logger } from './log.js';

/** Bounds how long a request (or start-up) waits for a connection to a dead database. */
const CONNECT_TIMEOUT_MS = 5_000;

/** The MES's single pool. LEGACY (deliberate): reads and writes share the one primary. */
export function createPool(databaseUrl: string, logger: Logger): pg.Pool {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    max: 10,
  });
  // An idle client losing its server emits here; without a listener it would crash the MES.
  pool.on('error', (err) => {
    logger.error(
      { event: 'db_idle_client_error', reason: reasonOf(err) },
      'an idle database connection failed',
    );
  });
  return pool;
}

/** A connection URL safe to print: the password is replaced (the kernel's). */
export { redactUrl } from '@meskit/kernel';

export function connectError(databaseUrl: string, cause: unknown): MesError {
  // A refused certificate says which host, why, and the sslrootcert that fixes it.
  const reason = tlsFailure(cause, databaseUrl)?.message ?? describeError(cause);
  return new MesError(
    'DATABASE_UNREACHABLE',
    `cannot connect to PostgreSQL at ${redactUrl(databaseUrl)}: ${reason}. Check DATABASE_URL and that the server is running.`,
    { cause },
  );
}

/** Codes node-postgres and Node use when the server cannot be reached or went away. */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'EPIPE',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '53300', // too_many_connections
]);

/** True when an error means "the database is not there", not "the query was wrong". */
export function isUnavailableError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as Error & { code?: unknown }).code;
  if (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) return true;
  if (err instanceof AggregateError) return err.errors.some(isUnavailableError);
  return /timeout exceeded when trying to connect|Connection terminated/i.test(err.message);
}

/** The PostgreSQL SQLSTATE of an error, if it has one. */
export function sqlState(err: unknown): string | undefined {
  const code = err instanceof Error ? (err as Error & { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}

export function describeError(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) {
    return err.errors.map(describeError).join('; ');
  }
  if (err instanceof Error) {
    const code = sqlState(err);
    return code && !err.message.includes(code)
      ? `${err.message} (${code})`
      : err.message || err.name;
  }
  return String(err);
}
