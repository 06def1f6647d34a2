// The OTLP/JSON text the export worker sends: valid JSON, the OTLP field names, and proto3
// defaults left out.
import { describe, expect, it } from 'vitest';
import {
  nanos,
  OtlpBatchEncoder,
  requestBody,
  type AttributeRecord,
  type SpanRecord,
} from '../src/internal/otlp-json.js';

/** The request body of `spans`, as the export thread sends it, as text. */
function encodeBatch(batch: { resource: AttributeRecord; spans: SpanRecord[] }): string {
  const encoder = new OtlpBatchEncoder();
  for (const span of batch.spans) encoder.add(span);
  return requestBody(batch.resource, encoder.take() ?? { spans: 0, scopes: [] }).toString('utf8');
}

const BASE: SpanRecord = {
  traceId: '0af7651916cd43dd8448eb211c80319c',
  spanId: 'b7ad6b7169203331',
  parentSpanId: undefined,
  traceState: undefined,
  name: 'GET /orders/:id',
  kind: 1,
  start: 1_700_000_000_000.5,
  end: 1_700_000_000_001,
  attributes: { 'http.route': '/orders/:id', code: 200, ratio: 0.5, ok: true, tags: ['a', 'b'] },
  droppedAttributesCount: 0,
  events: [],
  droppedEventsCount: 0,
  links: [],
  droppedLinksCount: 0,
  statusCode: 0,
  statusMessage: undefined,
  scopeName: 'scope',
  scopeVersion: '1.0.0',
};

describe('encodeBatch', () => {
  it('writes an ExportTraceServiceRequest with proto3 defaults left out', () => {
    const json = JSON.parse(encodeBatch({ resource: { 'service.name': 'mes' }, spans: [BASE] }));
    expect(json).toEqual({
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'mes' } }] },
          scopeSpans: [
            {
              scope: { name: 'scope', version: '1.0.0' },
              spans: [
                {
                  traceId: BASE.traceId,
                  spanId: BASE.spanId,
                  name: 'GET /orders/:id',
                  kind: 2,
                  startTimeUnixNano: '1700000000000500000',
                  endTimeUnixNano: '1700000000001000000',
                  attributes: [
                    { key: 'http.route', value: { stringValue: '/orders/:id' } },
                    { key: 'code', value: { intValue: 200 } },
                    { key: 'ratio', value: { doubleValue: 0.5 } },
                    { key: 'ok', value: { boolValue: true } },
                    {
                      key: 'tags',
                      value: {
                        arrayValue: { values: [{ stringValue: 'a' }, { stringValue: 'b' }] },
                      },
                    },
                  ],
                },
              ],
            },
          ],
        },
      ],
    });
  });

  it('writes parents, status, events, links, drop counts and escapes strings', () => {
    const span: SpanRecord = {
      ...BASE,
      parentSpanId: '00f067aa0ba902b7',
      traceState: 'vendor=a',
      name: 'say "hi"\n',
      attributes: {},
      droppedAttributesCount: 2,
      events: [
        {
          name: 'exception',
          time: 1_700_000_000_000,
          attributes: { m: 'x' },
          droppedAttributesCount: 0,
        },
      ],
      droppedEventsCount: 1,
      links: [
        {
          traceId: BASE.traceId,
          spanId: '1111111111111111',
          traceState: undefined,
          attributes: undefined,
          droppedAttributesCount: 0,
        },
      ],
      statusCode: 2,
      statusMessage: 'boom',
      scopeVersion: undefined,
    };
    const json = JSON.parse(encodeBatch({ resource: {}, spans: [span] }));
    const scopeSpans = json.resourceSpans[0].scopeSpans[0];
    expect(scopeSpans.scope).toEqual({ name: 'scope' });
    expect(scopeSpans.spans[0]).toMatchObject({
      parentSpanId: '00f067aa0ba902b7',
      traceState: 'vendor=a',
      name: 'say "hi"\n',
      droppedAttributesCount: 2,
      events: [
        {
          name: 'exception',
          timeUnixNano: '1700000000000000000',
          attributes: [{ key: 'm', value: { stringValue: 'x' } }],
        },
      ],
      droppedEventsCount: 1,
      links: [{ traceId: BASE.traceId, spanId: '1111111111111111', attributes: [] }],
      status: { code: 2, message: 'boom' },
    });
  });

  it('keeps non-ASCII text, control characters and lone surrogates valid JSON', () => {
    const text = 'Zürich → 東京 "quoted" \\ tab\t nul\u0000 lone\ud800';
    const span: SpanRecord = { ...BASE, name: text, attributes: { [`k ${text}`]: text } };
    const json = JSON.parse(encodeBatch({ resource: { 'service.name': text }, spans: [span] }));
    const encoded = json.resourceSpans[0].scopeSpans[0].spans[0];
    // JSON.stringify writes a lone surrogate as \ud800, which parses back to the same unit.
    expect(encoded.name).toBe(text);
    expect(encoded.attributes).toEqual([{ key: `k ${text}`, value: { stringValue: text } }]);
    expect(json.resourceSpans[0].resource.attributes[0].value.stringValue).toBe(text);
  });

  it('writes nanoseconds exactly for whole and fractional milliseconds', () => {
    expect(nanos(0)).toBe('0');
    expect(nanos(0.000001)).toBe('1');
    expect(nanos(1_700_000_000_000)).toBe('1700000000000000000');
    expect(nanos(1_700_000_000_000.25)).toBe('1700000000000250000');
    expect(nanos(1.0005)).toBe('1000500');
    // A fraction that rounds up to the next millisecond carries.
    expect(nanos(1.999_999_9)).toBe('2000000');
  });
});

describe('OtlpBatchEncoder', () => {
  it('groups spans by scope, grows past its first buffer, and starts empty after take()', () => {
    const encoder = new OtlpBatchEncoder();
    const big = 'x'.repeat(100_000); // beyond the first 64 KiB buffer of its scope
    encoder.add({ ...BASE, spanId: '0000000000000001', attributes: { big } });
    encoder.add({ ...BASE, spanId: '0000000000000002', scopeName: 'other' });
    encoder.add({ ...BASE, spanId: '0000000000000003', attributes: { big } });
    expect(encoder.spans).toBe(3);
    expect(encoder.bytes).toBeGreaterThan(200_000);
    const batch = encoder.take()!;
    expect(encoder.spans).toBe(0);
    expect(encoder.bytes).toBe(0);
    expect(encoder.take()).toBeUndefined();
    // Each scope's bytes start at offset 0 of a buffer of their own: transferable as is.
    for (const { spansJson } of batch.scopes) expect(spansJson.byteOffset).toBe(0);
    const json = JSON.parse(requestBody({ 'service.name': 'mes' }, batch).toString('utf8'));
    const scopes = json.resourceSpans[0].scopeSpans as {
      scope: { name: string };
      spans: { spanId: string; attributes: { value: { stringValue: string } }[] }[];
    }[];
    expect(scopes.map((s) => [s.scope.name, s.spans.map((span) => span.spanId)])).toEqual([
      ['scope', ['0000000000000001', '0000000000000003']],
      ['other', ['0000000000000002']],
    ]);
    expect(scopes[0]!.spans[1]!.attributes[0]!.value.stringValue).toBe(big);
  });
});
