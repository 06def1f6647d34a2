// Trace ids on the application's pino lines, at less cost than instrumentation-pino's mixin.
// Upstream's mixin runs for every line: isEnabled() and getConfig() three times, two regular
// expressions validating the ids (isSpanContextValid), a hex conversion of the flags and the
// log-hook lookup; profiled on the MES (docs/benchmarks.md "otel") that was about 3 us a line.
// The lean mixin reads the active span once and writes the same three keys. Everything else
// stays upstream's: the patching of pino, log sending to Loki (the multistream), and its mixin
// itself wherever the configuration asks for what only it does (logKeys, logHook,
// disableLogCorrelation).
import { context, trace } from '@opentelemetry/api';
import {
  PinoInstrumentation,
  type PinoInstrumentationConfig,
} from '@opentelemetry/instrumentation-pino';

const INVALID_TRACE_ID = '00000000000000000000000000000000';
const INVALID_SPAN_ID = '0000000000000000';
/** `trace_flags` as upstream writes it (`0${flags.toString(16)}`), for the usual values. */
const FLAGS = ['00', '01'];

/** instrumentation-pino with the lean mixin when its configuration allows it. */
export function pinoInstrumentation(config: PinoInstrumentationConfig): PinoInstrumentation {
  const instrumentation = new PinoInstrumentation(config);
  if (config.logKeys !== undefined || config.logHook !== undefined) return instrumentation;
  if (config.disableLogCorrelation === true) return instrumentation;
  const target = instrumentation as unknown as { _getMixinFunction?: unknown };
  // Upstream's private hook, where it builds each logger's mixin; if a later version renames
  // it, its own mixin stays (correct, only slower).
  if (typeof target._getMixinFunction !== 'function') return instrumentation;
  target._getMixinFunction = () =>
    // pino merges the line's own fields into the object returned: a new one every time.
    function meskitTraceMixin(): Record<string, string> {
      if (!instrumentation.isEnabled()) return {};
      const span = trace.getSpan(context.active());
      if (span === undefined) return {};
      const { traceId, spanId, traceFlags } = span.spanContext();
      if (traceId === INVALID_TRACE_ID || spanId === INVALID_SPAN_ID) return {};
      return {
        trace_id: traceId,
        span_id: spanId,
        trace_flags: FLAGS[traceFlags] ?? `0${traceFlags.toString(16)}`,
      };
    };
  return instrumentation;
}
