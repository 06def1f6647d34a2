// The MES's log: pino, one JSON object per line on stderr. stdout is reserved for the one
// "listening" line main.ts prints, which the demo and the tests parse.
//
// LEGACY (deliberate), CASE.md problem 6: plain pino and nothing else. No trace ids, no
// shipping anywhere but stderr, no metrics, no traces. meskit adds those from outside with
// `node --import @meskit/otel-bootstrap/register`, whose pino instrumentation finds this
// logger because it is created with pino's own factory.
import { pino, type Logger } from 'pino';

export type { Logger };

/** pino's level names, plus `silent`. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === 'string' && (LOG_LEVELS as readonly string[]).includes(value);
}

/**
 * A pino logger writing JSON lines to stderr. Synchronous writes: main.ts ends with
 * process.exit(), and a line still buffered then would be lost.
 */
export function createLogger(level: LogLevel): Logger {
  return pino({ level }, pino.destination({ dest: 2, sync: true }));
}

/** The text of an error, for a log field (`reason`). */
export function reasonOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
