// The test peers themselves: what they accept, what they refuse, and how they wait.
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  startLokiReceiver,
  startOtlpReceiver,
  type LokiReceiver,
  type OtlpReceiver,
} from './peers/index.js';

const exportRequest = (name: string) => ({
  resourceSpans: [
    {
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'peer-test' } }] },
      scopeSpans: [
        {
          scope: { name: 'unit', version: '1.0.0' },
          spans: [
            {
              traceId: '5b8efff798038103d269b633813fc60c',
              spanId: 'eee19b7ec3c1b174',
              parentSpanId: '',
              name,
              kind: 2,
              startTimeUnixNano: '1700000000000000000',
              endTimeUnixNano: '1700000000100000000',
              attributes: [
                { key: 'http.response.status_code', value: { intValue: '200' } },
                { key: 'ok', value: { boolValue: true } },
                {
                  key: 'tags',
                  value: { arrayValue: { values: [{ stringValue: 'a' }, { doubleValue: 1.5 }] } },
                },
                {
                  key: 'obj',
                  value: { kvlistValue: { values: [{ key: 'k', value: { stringValue: 'v' } }] } },
                },
              ],
              status: { code: 1 },
              links: [
                { traceId: 'AAECAwQFBgcICQoLDA0ODw==', spanId: 'AAECAwQFBgc=', attributes: [] },
              ],
            },
          ],
        },
      ],
    },
  ],
});

describe('OTLP receiver', () => {
  let otlp: OtlpReceiver;
  beforeAll(async () => {
    otlp = await startOtlpReceiver();
  });
  afterAll(() => otlp.close());

  const post = (body: string | Buffer, headers: Record<string, string>) =>
    fetch(otlp.tracesUrl, { method: 'POST', body, headers });

  it('collects spans from OTLP/JSON, flattened with resource and scope, ids in hex', async () => {
    const waiting = otlp.waitForSpan((s) => s.name === 'GET /orders/:id');
    const response = await post(JSON.stringify(exportRequest('GET /orders/:id')), {
      'content-type': 'application/json',
    });
    expect(response.status).toBe(200);
    const span = await waiting;
    expect(span).toMatchObject({
      traceId: '5b8efff798038103d269b633813fc60c',
      spanId: 'eee19b7ec3c1b174',
      parentSpanId: undefined,
      kind: 2,
      serviceName: 'peer-test',
      scope: { name: 'unit', version: '1.0.0' },
      status: { code: 1 },
      attributes: { 'http.response.status_code': 200, ok: true, tags: ['a', 1.5], obj: { k: 'v' } },
    });
    // Base64 ids (protobuf-JSON style) are decoded to hex as well.
    expect(span.links[0]).toMatchObject({
      traceId: '000102030405060708090a0b0c0d0e0f',
      spanId: '0001020304050607',
    });
  });

  it('takes gzip-compressed bodies', async () => {
    const body = gzipSync(JSON.stringify(exportRequest('compressed')));
    const response = await post(body, {
      'content-type': 'application/json',
      'content-encoding': 'gzip',
    });
    expect(response.status).toBe(200);
    expect(otlp.spans.some((s) => s.name === 'compressed')).toBe(true);
  });

  it('refuses protobuf with 415 and says what to configure', async () => {
    const response = await post(Buffer.from([0x0a, 0x00]), {
      'content-type': 'application/x-protobuf',
    });
    expect(response.status).toBe(415);
    expect(await response.text()).toContain('OTEL_EXPORTER_OTLP_PROTOCOL=http/json');
  });

  it('answers with an injected failure status when told to', async () => {
    otlp.respondWith(503);
    const response = await post(JSON.stringify(exportRequest('refused')), {
      'content-type': 'application/json',
    });
    otlp.respondWith(undefined);
    expect(response.status).toBe(503);
    expect(otlp.spans.some((s) => s.name === 'refused')).toBe(false);
  });

  it('rejects a wait that times out, saying what did arrive', async () => {
    await expect(otlp.waitForSpan((s) => s.name === 'never', 50)).rejects.toThrow(
      /timed out after 50 ms waiting for a matching span; received \d+ span\(s\): GET \/orders\/:id, compressed/,
    );
  });
});

describe('Loki receiver', () => {
  let loki: LokiReceiver;
  beforeAll(async () => {
    loki = await startLokiReceiver();
  });
  afterAll(() => loki.close());

  it('answers GET /ready like Loki', async () => {
    const response = await fetch(`${loki.url}/ready`);
    expect(response.status).toBe(200);
  });

  it('collects lines of JSON pushes with their labels, answering 204', async () => {
    const waiting = loki.waitForLine((l) => l.json?.['msg'] === 'hello');
    const response = await fetch(loki.pushUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        streams: [
          {
            stream: { service: 'mes', env: 'test', level: 'info' },
            values: [
              ['1700000000000000000', '{"msg":"hello","trace_id":"abc"}'],
              ['1700000000000000001', 'plain text'],
            ],
          },
        ],
      }),
    });
    expect(response.status).toBe(204);
    const line = await waiting;
    expect(line).toMatchObject({
      labels: { service: 'mes', env: 'test', level: 'info' },
      timestampNs: '1700000000000000000',
      json: { msg: 'hello', trace_id: 'abc' },
    });
    expect(loki.lines.at(-1)).toMatchObject({ line: 'plain text', json: undefined });
  });

  it('refuses snappy protobuf with 415', async () => {
    const response = await fetch(loki.pushUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy' },
      body: Buffer.from([0xff, 0x06]),
    });
    expect(response.status).toBe(415);
    expect(await response.text()).toContain('snappy-compressed protobuf is not supported');
  });

  it('answers with an injected failure status when told to', async () => {
    loki.respondWith(500);
    const response = await fetch(loki.pushUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"streams":[]}',
    });
    loki.respondWith(undefined);
    expect(response.status).toBe(500);
  });
});
