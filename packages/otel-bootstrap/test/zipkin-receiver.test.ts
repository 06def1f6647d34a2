// The Zipkin v2 test peer refuses what Zipkin refuses: a passing Zipkin test means the spans
// would be stored by a real Zipkin.
import { describe, expect, it } from 'vitest';
import { decodeZipkinSpans, startZipkinReceiver } from './peers/index.js';

const good = {
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
  id: '00f067aa0ba902b7',
  parentId: '00f067aa0ba902b8',
  name: 'GET /api/orders/:id',
  kind: 'SERVER',
  timestamp: 1_700_000_000_000_000,
  duration: 1_250,
  localEndpoint: { serviceName: 'mes' },
  tags: { 'http.response.status_code': '200' },
  annotations: [{ timestamp: 1_700_000_000_000_100, value: 'exception' }],
};

describe('the Zipkin v2 receiver', () => {
  it('accepts a well-formed span', () => {
    expect(decodeZipkinSpans([good])).toEqual([good]);
  });

  it.each([
    ['a body that is not a list', good, /not a JSON array/],
    ['a 15-digit trace id', [{ ...good, traceId: good.traceId.slice(1) }], /traceId/],
    ['an upper-case id', [{ ...good, id: good.id.toUpperCase() }], /id "00F0/],
    ['an all-zero id', [{ ...good, id: '0000000000000000' }], /all zeros/],
    ['a parent that is the span itself', [{ ...good, parentId: good.id }], /circular/],
    ['an unknown kind', [{ ...good, kind: 'INTERNAL' }], /kind/],
    ['a fraction of a microsecond', [{ ...good, timestamp: 1.5 }], /whole number/],
    ['a duration in a string', [{ ...good, duration: '12' }], /duration/],
    ['a numeric tag', [{ ...good, tags: { 'http.response.status_code': 200 } }], /tag/],
    ['an annotation without a value', [{ ...good, annotations: [{ timestamp: 1 }] }], /annotation/],
  ])('refuses %s', (_, body, reason) => {
    expect(() => decodeZipkinSpans(body)).toThrow(reason);
  });

  it('answers a malformed body 400 and a wrong path 404, keeping nothing', async () => {
    const receiver = await startZipkinReceiver();
    try {
      const post = (url: string, body: unknown) =>
        fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      expect((await post(receiver.spansUrl, [{ ...good, id: 'x' }])).status).toBe(400);
      expect((await post(receiver.spansUrl.replace('/v2/', '/v1/'), [good])).status).toBe(404);
      expect(receiver.spans).toEqual([]);
      expect(receiver.rejections).toHaveLength(2);
      expect((await post(receiver.spansUrl, [good])).status).toBe(202);
      expect(receiver.spans).toHaveLength(1);
    } finally {
      await receiver.close();
    }
  });
});
