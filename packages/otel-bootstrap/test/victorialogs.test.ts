// VictoriaLogs through its Loki push path, with nothing but MESKIT_LOKI_URL: the URL is kept as
// given (query arguments included), a process started with `--import` ships its lines and its
// application's pino lines there, and the VictoriaLogs test receiver takes and refuses what
// VictoriaLogs takes and refuses.
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/internal/config/resolve.js';
import { snappyDecompress } from './peers/loki-protobuf.js';
import {
  startOtlpReceiver,
  startVictoriaLogsReceiver,
  type OtlpReceiver,
  type VictoriaLogsReceiver,
} from './peers/index.js';
import { spawnApp } from './helpers.js';

let victoria: VictoriaLogsReceiver;
let otlp: OtlpReceiver;

beforeAll(async () => {
  victoria = await startVictoriaLogsReceiver();
  otlp = await startOtlpReceiver();
});

afterAll(async () => {
  await victoria?.close();
  await otlp?.close();
});

describe('MESKIT_LOKI_URL for VictoriaLogs', () => {
  const pushUrl = (url: string) =>
    resolveConfig({}, { MESKIT_LOKI_URL: url }).config.logs.loki?.pushUrl;

  it('keeps a full VictoriaLogs push URL as given, query arguments included', () => {
    expect(pushUrl('http://vl:9428/insert/loki/api/v1/push')).toBe(
      'http://vl:9428/insert/loki/api/v1/push',
    );
    expect(
      pushUrl('http://vl:9428/insert/loki/api/v1/push?_stream_fields=service,env&_msg_field=msg'),
    ).toBe('http://vl:9428/insert/loki/api/v1/push?_stream_fields=service,env&_msg_field=msg');
  });

  it("completes VictoriaLogs' base /insert/loki with api/v1/push, keeping the query", () => {
    expect(pushUrl('http://vl:9428/insert/loki')).toBe('http://vl:9428/insert/loki/api/v1/push');
    expect(pushUrl('http://vl:9428/insert/loki/?_msg_field=msg')).toBe(
      'http://vl:9428/insert/loki/api/v1/push?_msg_field=msg',
    );
    // Loki's own base URLs are unchanged.
    expect(pushUrl('http://loki:3100')).toBe('http://loki:3100/loki/api/v1/push');
  });
});

describe('a process under --import with MESKIT_LOKI_URL at the VictoriaLogs push path', () => {
  it('ships its log lines there with their labels, trace ids and the query arguments', async () => {
    expect(new URL(victoria.pushUrl).pathname).toBe('/insert/loki/api/v1/push');
    const url = `${victoria.pushUrl}?_msg_field=msg&_stream_fields=service,env`;
    const app = spawnApp({
      flag: '--import',
      app: 'log-lines.mjs',
      env: {
        OTEL_SERVICE_NAME: 'log-lines',
        MESKIT_ENV: 'test',
        OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
        OTEL_BSP_SCHEDULE_DELAY: '50',
        MESKIT_METRICS_PORT: 'off',
        MESKIT_LOKI_URL: url,
        MESKIT_LOKI_BATCH_INTERVAL_MS: '50',
      },
    });
    const done = await app.waitForEvent<{ traceId: string; spanId: string }>('done');
    expect(await app.exited).toEqual({ code: 0, signal: null });

    const root = await victoria.waitForLine((l) => l.json?.['msg'] === 'order taken');
    expect(root.labels).toEqual({ service: 'log-lines', env: 'test', level: 'info' });
    expect(root.json).toMatchObject({
      trace_id: done.traceId,
      span_id: done.spanId,
      databaseUrl: 'postgres://mes:***@db:5432/mes',
    });
    const failed = await victoria.waitForLine((l) => l.json?.['msg'] === 'take failed');
    expect(failed.labels['level']).toBe('error');
    const own = await victoria.waitForLine((l) => l.json?.['msg'] === 'own pino logger line');
    expect(own.labels).toEqual({ service: 'log-lines', env: 'test', level: 'info' });
    expect(own.json).toMatchObject({ logger: 'own', trace_id: done.traceId });

    expect(victoria.pushes.length).toBeGreaterThan(0);
    for (const push of victoria.pushes) {
      expect(push.query).toEqual({ _msg_field: 'msg', _stream_fields: 'service,env' });
    }
    expect(victoria.rejected).toBe(0);
    expect(app.warningCount('MESKIT_OTEL_LOKI_PUSH_FAILED')).toBe(0);
  });
});

// --- the receiver itself ---------------------------------------------------------------------

const json = { 'content-type': 'application/json' };
const post = (body: string | Buffer, headers: Record<string, string>, query = '') =>
  fetch(`${victoria.pushUrl}${query}`, { method: 'POST', body, headers });
const push = (values: unknown, stream: unknown = { service: 'mes', level: 'info' }) =>
  JSON.stringify({ streams: [{ stream, values }] });

describe('VictoriaLogs receiver', () => {
  it('answers GET /insert/loki/ready', async () => {
    const response = await fetch(`${victoria.url}/insert/loki/ready`);
    expect(response.status).toBe(200);
  });

  it('keeps the lines of a JSON push with their labels and metadata, answering 204', async () => {
    const response = await post(
      push([
        ['1700000000000000000', '{"msg":"json push","trace_id":"abc"}'],
        ['1700000000000000001', 'plain text', { trace_id: 'abc' }],
        ['', 'stamped on arrival'],
      ]),
      { 'content-type': 'application/json; charset=utf-8' },
    );
    expect(response.status).toBe(204);
    const line = await victoria.waitForLine((l) => l.json?.['msg'] === 'json push');
    expect(line).toMatchObject({
      labels: { service: 'mes', level: 'info' },
      timestampNs: '1700000000000000000',
    });
    expect(victoria.lines.find((l) => l.line === 'plain text')?.metadata).toEqual({
      trace_id: 'abc',
    });
    expect(victoria.lines.some((l) => l.line === 'stamped on arrival')).toBe(true);
  });

  it('takes a gzip-compressed JSON push', async () => {
    const body = gzipSync(push([['1700000000000000002', 'gzipped']]));
    const response = await post(body, { ...json, 'content-encoding': 'gzip' });
    expect(response.status).toBe(204);
    expect(victoria.lines.some((l) => l.line === 'gzipped')).toBe(true);
  });

  it('takes a snappy-compressed protobuf push (what Promtail and Alloy send)', async () => {
    const body = snappyLiterals(
      pushRequest([
        {
          labels: '{service="mes", level="warn", note="a \\"quoted\\" value"}',
          entries: [
            { seconds: 1_700_000_000, nanos: 5, line: 'from protobuf', metadata: [['k', 'v']] },
          ],
        },
      ]),
    );
    const response = await post(body, { 'content-type': 'application/x-protobuf' });
    expect(response.status).toBe(204);
    const line = await victoria.waitForLine((l) => l.line === 'from protobuf');
    expect(line).toMatchObject({
      labels: { service: 'mes', level: 'warn', note: 'a "quoted" value' },
      timestampNs: '1700000000000000005',
      metadata: { k: 'v' },
    });
  });

  it('decompresses snappy copies, not only literals', () => {
    // "abc" as a literal, then a 9-byte copy from 3 bytes back.
    const block = Buffer.from([12, (3 - 1) << 2, 'a'.charCodeAt(0), 98, 99, 1 | ((9 - 4) << 2), 3]);
    expect(snappyDecompress(block).toString()).toBe('abcabcabcabc');
  });

  it.each<[string, string | Buffer, Record<string, string>]>([
    ['a body that is not JSON', '{"streams":[', json],
    ['no streams', '{}', json],
    ['streams that are not an array', '{"streams":{}}', json],
    ['a stream without values', JSON.stringify({ streams: [{ stream: { a: 'b' } }] }), json],
    ['values that are not an array', push({ a: 1 }), json],
    ['a value of four items', push([['1700000000000000000', 'x', {}, 'extra']]), json],
    ['a value of one item', push([['1700000000000000000']]), json],
    ['a timestamp that is a number', push([[1700000000000000000, 'x']]), json],
    ['a timestamp that is not a number', push([['yesterday', 'x']]), json],
    ['a line that is not a string', push([['1700000000000000000', { msg: 'x' }]]), json],
    ['metadata that is not an object', push([['1700000000000000000', 'x', 'meta']]), json],
    ['labels that are not an object', push([['1700000000000000000', 'x']], 'service=mes'), json],
    ['a label that is not a string', push([['1700000000000000000', 'x']], { n: 1 }), json],
    [
      'JSON sent as text/plain (read as protobuf)',
      push([['1', 'x']]),
      { 'content-type': 'text/plain' },
    ],
    ['protobuf that is not snappy', Buffer.from([0x0a, 0x02, 0x0a, 0x00]), {}],
    [
      'a protobuf stream without labels',
      snappyLiterals(pushRequest([{ entries: [{ seconds: 1, nanos: 0, line: 'x' }] }])),
      { 'content-type': 'application/x-protobuf' },
    ],
    [
      'protobuf labels not in {k="v"} form',
      snappyLiterals(pushRequest([{ labels: 'service=mes', entries: [] }])),
      { 'content-type': 'application/x-protobuf' },
    ],
  ])('answers 400 to %s, as VictoriaLogs does', async (_, body, headers) => {
    const before = victoria.lines.length;
    const response = await post(body, headers);
    expect(response.status).toBe(400);
    expect(victoria.lines.length).toBe(before);
  });

  it('answers 400 to a malformed boolean or extra_fields query argument', async () => {
    const body = push([['1700000000000000000', 'x']]);
    expect((await post(body, json, '?debug=maybe')).status).toBe(400);
    expect((await post(body, json, '?extra_fields=plant')).status).toBe(400);
    expect((await post(body, json, '?disable_message_parsing=1&extra_fields=plant=2')).status).toBe(
      204,
    );
  });

  it("refuses Loki's own path and other methods with 404", async () => {
    const body = push([['1700000000000000000', 'x']]);
    const loki = await fetch(`${victoria.url}/loki/api/v1/push`, {
      method: 'POST',
      body,
      headers: json,
    });
    expect(loki.status).toBe(404);
    expect(await loki.text()).toContain('POST /insert/loki/api/v1/push');
    expect((await fetch(victoria.pushUrl)).status).toBe(404);
  });
});

// --- a protobuf PushRequest encoder, independent of the receiver's decoder --------------------

interface EntrySpec {
  seconds: number;
  nanos: number;
  line: string;
  metadata?: [string, string][];
}

function pushRequest(streams: { labels?: string; entries: EntrySpec[] }[]): Buffer {
  return Buffer.concat(
    streams.map((stream) =>
      bytesField(
        1,
        Buffer.concat([
          ...(stream.labels !== undefined ? [bytesField(1, Buffer.from(stream.labels))] : []),
          ...stream.entries.map((entry) => bytesField(2, encodeEntry(entry))),
        ]),
      ),
    ),
  );
}

function encodeEntry(entry: EntrySpec): Buffer {
  const timestamp = Buffer.concat([varintField(1, entry.seconds), varintField(2, entry.nanos)]);
  return Buffer.concat([
    bytesField(1, timestamp),
    bytesField(2, Buffer.from(entry.line)),
    ...(entry.metadata ?? []).map(([name, value]) =>
      bytesField(
        3,
        Buffer.concat([bytesField(1, Buffer.from(name)), bytesField(2, Buffer.from(value))]),
      ),
    ),
  ]);
}

function varint(value: number): Buffer {
  const bytes: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    bytes.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

function varintField(number: number, value: number): Buffer {
  return Buffer.concat([varint(number << 3), varint(value)]);
}

function bytesField(number: number, payload: Buffer): Buffer {
  return Buffer.concat([varint((number << 3) | 2), varint(payload.length), payload]);
}

/** Snappy's block format with literals only: valid, if not compressed. */
function snappyLiterals(data: Buffer): Buffer {
  const parts = [varint(data.length)];
  for (let start = 0; start < data.length; start += 256) {
    const chunk = data.subarray(start, start + 256);
    parts.push(
      chunk.length <= 60
        ? Buffer.from([(chunk.length - 1) << 2])
        : Buffer.from([60 << 2, chunk.length - 1]),
      chunk,
    );
  }
  return Buffer.concat(parts);
}
