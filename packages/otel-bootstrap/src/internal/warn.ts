// This package's warnings, on the kernel's warn-once: one type hosts filter on, stable codes,
// and what was said shared by every copy of the package in the process (two copies must not
// say the same thing twice).
import { createWarnOnce, emitWarning } from '@meskit/kernel';
import type { TelemetryWarningCode } from '../errors.js';

/** The `type` of every warning this package emits, so hosts can filter them in one place. */
export const WARNING_TYPE = 'MeskitTelemetryWarning';

const once = createWarnOnce({
  type: WARNING_TYPE,
  processKey: Symbol.for('meskit.otel-bootstrap.warned'),
});

/** Emits a warning now. Use for conditions that end and can recur (an outage). */
export function warn(code: TelemetryWarningCode, message: string): void {
  emitWarning(code, message, WARNING_TYPE);
}

/**
 * Emits a warning unless one with the same `code` and `key` was emitted before in this
 * process: telemetry says what is wrong once, not on every request.
 */
export function warnOnce(code: TelemetryWarningCode, message: string, key = ''): void {
  once(code, message, key);
}
