// The application's pino lines come back from OpenTelemetry log records as pino-shaped lines:
// the level number decides the Loki `level` label, `time` is the line's own.
import { SeverityNumber, TraceFlags } from '@opentelemetry/api';
import type { ReadWriteLogRecord } from '@opentelemetry/sdk-logs';
import { describe, expect, it } from 'vitest';
import { toPinoFields } from '../src/internal/app-logs.js';

function record(fields: Partial<ReadWriteLogRecord>): ReadWriteLogRecord {
  return { hrTime: [1_767_607_200, 123_456_789], attributes: {}, ...fields } as ReadWriteLogRecord;
}

describe('toPinoFields', () => {
  it.each([
    [SeverityNumber.TRACE, 10],
    [SeverityNumber.DEBUG, 20],
    [SeverityNumber.INFO, 30],
    [SeverityNumber.WARN, 40],
    [SeverityNumber.ERROR, 50],
    [SeverityNumber.FATAL, 60],
  ])('gives severity %i back its pino level %i', (severityNumber, level) => {
    expect(toPinoFields(record({ severityNumber })).level).toBe(level);
  });

  it.each([
    [SeverityNumber.INFO3, 30], // a custom pino level between info and warn
    [SeverityNumber.ERROR4, 50],
    [SeverityNumber.FATAL4, 60],
    [undefined, 30],
    [SeverityNumber.UNSPECIFIED, 30],
  ])('maps severity %s to the nearest standard pino level, %i', (severityNumber, level) => {
    expect(toPinoFields(record({ severityNumber })).level).toBe(level);
  });

  it("keeps the line's time (epoch ms), its fields, its message and the record's trace context", () => {
    const fields = toPinoFields(
      record({
        severityNumber: SeverityNumber.INFO,
        attributes: { event: 'request', route: '/api/orders/:id/take', status: 200 },
        body: 'POST /api/orders/:id/take 200',
        spanContext: {
          traceId: '0af7651916cd43dd8448eb211c80319c',
          spanId: 'b7ad6b7169203331',
          traceFlags: TraceFlags.SAMPLED,
        },
      }),
    );
    expect(fields).toEqual({
      level: 30,
      time: 1_767_607_200_123,
      event: 'request',
      route: '/api/orders/:id/take',
      status: 200,
      trace_id: '0af7651916cd43dd8448eb211c80319c',
      span_id: 'b7ad6b7169203331',
      trace_flags: '01',
      msg: 'POST /api/orders/:id/take 200',
    });
  });

  it('has no trace fields outside a span, and keeps a body that is not text as `body`', () => {
    const fields = toPinoFields(record({ body: { orderId: 42 }, eventName: 'order.taken' }));
    expect(fields).toEqual({
      level: 30,
      time: 1_767_607_200_123,
      'event.name': 'order.taken',
      body: { orderId: 42 },
    });
  });
});
