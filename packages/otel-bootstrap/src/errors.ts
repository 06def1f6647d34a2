import { MeskitError } from '@meskit/kernel';

/**
 * Codes of the warnings this package emits with `process.emitWarning(message, { code })`.
 * Telemetry never throws into the host at runtime: a problem it can survive becomes one of
 * these, once, and the host runs on. Listen with
 * `process.on('warning', (w) => w.code?.startsWith('MESKIT_OTEL_'))`.
 *
 * - `MESKIT_OTEL_INVALID_CONFIG`: an env var (or option read at runtime) is malformed; the
 *   message names it and the fallback used.
 * - `MESKIT_OTEL_ALREADY_STARTED`: telemetry was started twice; the second start is ignored.
 * - `MESKIT_OTEL_FOREIGN_SDK`: another OpenTelemetry SDK registered a tracer provider first;
 *   ours does not replace it, so no traces are exported by this package.
 * - `MESKIT_OTEL_START_FAILED`: starting a part (tracing, metrics, logs) threw; that part is off.
 * - `MESKIT_OTEL_EXPORT_FAILED`: spans could not be delivered to the OTLP endpoint (once per
 *   outage; `meskit_otel_spans_dropped_total{reason="export_failed"}` counts them).
 * - `MESKIT_OTEL_SPANS_DROPPED`: the span queue was full; spans are being dropped
 *   (`meskit_otel_spans_dropped_total{reason="queue_full"}`).
 * - `MESKIT_OTEL_METRICS_PORT_IN_USE`: the `/metrics` port is taken; metrics are still
 *   recorded but not served.
 * - `MESKIT_OTEL_METRICS_LISTEN_FAILED`: the `/metrics` server could not listen for another reason.
 * - `MESKIT_OTEL_LOKI_PUSH_FAILED`: log lines could not be pushed to Loki (once per outage).
 * - `MESKIT_OTEL_SHUTDOWN_TIMEOUT`: flushing on shutdown took longer than `shutdownTimeoutMs`.
 */
export const WARNING_CODES = [
  'MESKIT_OTEL_INVALID_CONFIG',
  'MESKIT_OTEL_ALREADY_STARTED',
  'MESKIT_OTEL_FOREIGN_SDK',
  'MESKIT_OTEL_START_FAILED',
  'MESKIT_OTEL_EXPORT_FAILED',
  'MESKIT_OTEL_SPANS_DROPPED',
  'MESKIT_OTEL_METRICS_PORT_IN_USE',
  'MESKIT_OTEL_METRICS_LISTEN_FAILED',
  'MESKIT_OTEL_LOKI_PUSH_FAILED',
  'MESKIT_OTEL_SHUTDOWN_TIMEOUT',
] as const;

export type TelemetryWarningCode = (typeof WARNING_CODES)[number];

/**
 * Codes of this package's own errors. None today: the only error it throws is the kernel's
 * `InvalidOptionError` (code `INVALID_OPTION`, with `component` and `option`), thrown
 * synchronously by `startTelemetry()` and `createRouteNormalizer()` for a bad option, the
 * convention of every meskit factory. A code added here never changes meaning once released.
 */
export type TelemetryErrorCode = never;

/**
 * The base of errors specific to this package (none is thrown today; see
 * {@link TelemetryErrorCode}). Kept exported so that such a code can be added without
 * changing what callers import.
 */
export class TelemetryError extends MeskitError<TelemetryErrorCode> {}
