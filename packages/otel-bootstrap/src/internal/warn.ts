import type { TelemetryWarningCode } from '../errors.js';

/** The `type` of every warning this package emits, so hosts can filter them in one place. */
export const WARNING_TYPE = 'MeskitTelemetryWarning';

// Keys of warnings already emitted, shared by every copy of this package in the process
// (two copies must not say the same thing twice).
const EMITTED_KEY = Symbol.for('meskit.otel-bootstrap.warned');

function emitted(): Set<string> {
  const holder = globalThis as { [EMITTED_KEY]?: Set<string> };
  holder[EMITTED_KEY] ??= new Set<string>();
  return holder[EMITTED_KEY];
}

/** Emits a warning now. Use for conditions that end and can recur (an outage). */
export function warn(code: TelemetryWarningCode, message: string): void {
  try {
    process.emitWarning(message, { type: WARNING_TYPE, code });
  } catch {
    // A host that replaced emitWarning with something that throws must still not crash.
  }
}

/**
 * Emits a warning unless one with the same `code` and `key` was emitted before in this
 * process: telemetry says what is wrong once, not on every request.
 */
export function warnOnce(code: TelemetryWarningCode, message: string, key = ''): void {
  const id = `${code}\u0000${key}`;
  const seen = emitted();
  if (seen.has(id)) return;
  seen.add(id);
  warn(code, message);
}

/** One line describing an error, for warning messages. */
export function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
    const text = `${err.message}${cause}`.replace(/\s*\n\s*/g, ' ');
    return typeof code === 'string' && !text.includes(code) ? `${code} ${text}` : text;
  }
  return String(err);
}
