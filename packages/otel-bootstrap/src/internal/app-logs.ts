// The application's own pino loggers, shipped to Loki.
//
// instrumentation-pino's log sending gives every pino logger the application creates a second
// stream that turns each line into an OpenTelemetry LogRecord (Logs API), carrying the span
// context that was active when the line was written. This processor, the only one of the
// SDK's LoggerProvider, turns each record back into a pino-shaped JSON line and hands it to
// the root logger's Loki transport (shipAppLogLine): same redaction, same batching, same
// labels, same drop counting as the root logger's own lines. See README "Logs".
import type { Context } from '@opentelemetry/api';
import type { LogRecordProcessor, ReadWriteLogRecord } from '@opentelemetry/sdk-logs';
import { shipAppLogLine, shippingToLoki } from './logger.js';

/** pino's numbers for OpenTelemetry severity ranges (TRACE 1-4, DEBUG 5-8, ... FATAL 21-24). */
const PINO_LEVEL_OF_SEVERITY_RANGE = [10, 20, 30, 40, 50, 60] as const;
const PINO_INFO = 30;

export class AppLogForwarder implements LogRecordProcessor {
  /** Asked by the SDK before it builds a record: nothing is built while Loki is off. */
  enabled(): boolean {
    return shippingToLoki();
  }

  onEmit(record: ReadWriteLogRecord, _context?: Context): void {
    shipAppLogLine(toPinoFields(record));
  }

  // Records are handed to the Loki transport as they come: flushing and closing it belong to
  // the root logger's lifecycle (Telemetry.flush()/shutdown()).
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * The fields of a pino line: `level` (pino's number, from which pino-loki takes the `level`
 * label) and `time` (epoch ms) first, then the record's attributes (the application's own
 * fields), the trace context of the record, and `msg`.
 */
export function toPinoFields(record: ReadWriteLogRecord): Record<string, unknown> {
  const [seconds, nanos] = record.hrTime;
  const fields: Record<string, unknown> = {
    level: pinoLevel(record.severityNumber),
    time: seconds * 1000 + Math.floor(nanos / 1e6),
    ...record.attributes,
  };
  if (record.eventName !== undefined) fields['event.name'] = record.eventName;
  const span = record.spanContext;
  if (span !== undefined) {
    fields['trace_id'] = span.traceId;
    fields['span_id'] = span.spanId;
    fields['trace_flags'] = span.traceFlags.toString(16).padStart(2, '0');
  }
  const body = record.body;
  if (typeof body === 'string') fields['msg'] = body;
  else if (body !== undefined && body !== null) fields['body'] = body;
  return fields;
}

function pinoLevel(severity: number | undefined): number {
  if (severity === undefined || severity < 1) return PINO_INFO;
  const range = Math.min(Math.floor((severity - 1) / 4), PINO_LEVEL_OF_SEVERITY_RANGE.length - 1);
  return PINO_LEVEL_OF_SEVERITY_RANGE[range] ?? PINO_INFO;
}
