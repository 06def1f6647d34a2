// The OTLP/JSON text the export worker sends: valid JSON, the OTLP field names, and proto3
// defaults left out.
import { describe, expect, it } from 'vitest';
import { encodeBatch, type SpanRecord } from '../src/internal/otlp-json.js';

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
});
