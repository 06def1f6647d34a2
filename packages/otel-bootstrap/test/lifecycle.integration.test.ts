// Process behaviour, on real processes: flushing on SIGTERM with and without the host's own
// handler, OTEL_SDK_DISABLED, and the promise that telemetry never breaks its host (an
// unreachable collector, malformed settings, a taken port, a second start).
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  SPAN_KIND,
  startLokiReceiver,
  startOtlpReceiver,
  type LokiReceiver,
  type OtlpReceiver,
} from './peers/index.js';
import { spawnApp, type SpawnedApp } from './helpers.js';

interface Ready extends Record<string, unknown> {
  url: string;
  metricsUrl: string | null;
}

const services = inject('services');
let otlp: OtlpReceiver;
let loki: LokiReceiver;
const running: SpawnedApp[] = [];

beforeAll(async () => {
  otlp = await startOtlpReceiver();
  loki = await startLokiReceiver();
});

afterEach(async () => {
  for (const app of running.splice(0)) {
    app.kill('SIGKILL');
    await app.exited;
  }
  otlp.clear();
  otlp.respondWith(undefined);
  loki.clear();
});

afterAll(async () => {
  await otlp?.close();
  await loki?.close();
});

function start(
  app: string,
  env: Record<string, string>,
  flag: '--import' | '--require' = '--import',
): SpawnedApp {
  const child = spawnApp({
    flag,
    app,
    env: { DATABASE_URL: services.DATABASE_URL ?? '', MESKIT_METRICS_PORT: '0', ...env },
  });
  running.push(child);
  return child;
}

async function get(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; traceId: string }> {
  const response = await fetch(url, { headers });
  await response.arrayBuffer();
  return { status: response.status, traceId: response.headers.get('x-trace-id') ?? '' };
}

describe('shutdown', () => {
  it('flushes buffered spans and log lines on SIGTERM, then dies of the signal like an app without a handler', async () => {
    const app = start('app.mjs', {
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
      // Nothing is exported on a schedule during the test: only the SIGTERM flush can deliver.
      OTEL_BSP_SCHEDULE_DELAY: '600000',
      MESKIT_LOKI_URL: loki.url,
      MESKIT_LOKI_BATCH_INTERVAL_MS: '600000',
    });
    const ready = await app.waitForEvent<Ready>('listening');
    const { status, traceId } = await get(`${ready.url}/orders/7`);
    expect(status).toBe(200);
    expect(otlp.exports).toHaveLength(0);

    app.kill('SIGTERM');
    const exit = await app.exited;
    expect(exit).toEqual({ code: null, signal: 'SIGTERM' });
    const trace = otlp.spans.filter((s) => s.traceId === traceId);
    expect(trace.map((s) => s.kind)).toContain(SPAN_KIND.SERVER);
    expect(trace.some((s) => s.name.startsWith('pg.query'))).toBe(true);
    expect(loki.lines.some((l) => l.json?.['trace_id'] === traceId)).toBe(true);
    expect(app.stderr()).toBe('');
  });

  it('leaves the exit to a host with its own SIGTERM handler and still delivers the spans (CommonJS app)', async () => {
    const app = start(
      'app.cjs',
      {
        OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
        OTEL_BSP_SCHEDULE_DELAY: '600000',
        FIXTURE_OWN_SIGTERM: '1',
      },
      '--require',
    );
    const ready = await app.waitForEvent<Ready>('listening');
    const { traceId } = await get(`${ready.url}/orders/8`);

    app.kill('SIGTERM');
    // The host closes its server and pool; the event loop empties and the process ends on
    // its own, with its own exit code, after telemetry flushed.
    expect(await app.exited).toEqual({ code: 0, signal: null });
    expect(otlp.spans.filter((s) => s.traceId === traceId).map((s) => s.kind)).toContain(
      SPAN_KIND.SERVER,
    );
  });

  it('ignores a second initialisation with one warning and hands back the running telemetry', async () => {
    const app = start('double-start.mjs', {
      OTEL_SERVICE_NAME: 'first-start',
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
    });
    const done = await app.waitForEvent<Record<string, unknown>>('done');
    expect(done).toEqual({
      event: 'done',
      sameHandle: true,
      serviceName: 'first-start',
      samePromise: true,
    });
    expect(await app.exited).toEqual({ code: 0, signal: null });
    expect(app.warningCount('MESKIT_OTEL_ALREADY_STARTED')).toBe(1);
  });
});

describe('exporting from a worker thread', () => {
  it('delivers the spans of an app that ends with process.exit(), encoded as OTLP/JSON', async () => {
    const app = start('exit-now.mjs', {
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
      // No scheduled export during the test: only the exit can deliver.
      OTEL_BSP_SCHEDULE_DELAY: '600000',
    });
    const { traceId } = await app.waitForEvent<{ traceId: string }>('done');
    expect(await app.exited).toEqual({ code: 0, signal: null });
    const job = otlp.spans.find((s) => s.traceId === traceId && s.name === 'job');
    expect(job).toMatchObject({
      kind: SPAN_KIND.INTERNAL,
      parentSpanId: undefined,
      attributes: { 'job.items': 3, 'job.ratio': 0.5 },
      status: { code: 2, message: 'partly failed' },
      events: [{ name: 'checkpoint', attributes: { step: 'half' } }],
      scope: { name: 'exit-now' },
    });
    expect(job?.serviceName).toBeTruthy();
    expect(BigInt(job?.endTimeUnixNano ?? 0)).toBeGreaterThanOrEqual(
      BigInt(job?.startTimeUnixNano ?? 1),
    );
    expect(app.stderr()).toBe('');
  });

  it('sends gzip and the configured headers when OTEL_EXPORTER_OTLP_COMPRESSION=gzip', async () => {
    const app = start('exit-now.mjs', {
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
      OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip',
      OTEL_EXPORTER_OTLP_HEADERS: 'x-tenant=general,x-api-key=general',
      OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'x-api-key=traces',
    });
    const { traceId } = await app.waitForEvent<{ traceId: string }>('done');
    await app.exited;
    expect(otlp.spans.some((s) => s.traceId === traceId && s.name === 'job')).toBe(true);
    expect(otlp.exports[0]?.headers).toMatchObject({
      'content-encoding': 'gzip',
      'x-tenant': 'general',
      'x-api-key': 'traces',
    });
  });
});

describe('worker threads', () => {
  it('inherit the --import flag but start no second telemetry', async () => {
    const app = start('workers.mjs', { OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url });
    const done = await app.waitForEvent<Record<string, unknown>>('done');
    expect(done).toMatchObject({
      main: true,
      worker: {
        execArgv: ['--import', '@meskit/otel-bootstrap/register'],
        telemetry: false,
        otelApi: false,
      },
    });
    expect(await app.exited).toEqual({ code: 0, signal: null });
    expect(app.stderr()).toBe('');
  });
});

describe('OTEL_SDK_DISABLED=true', () => {
  it('runs the app and exports nothing, while metrics and logs keep working', async () => {
    const app = start('app.mjs', {
      OTEL_SDK_DISABLED: 'true',
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
      OTEL_BSP_SCHEDULE_DELAY: '10',
    });
    const ready = await app.waitForEvent<Ready>('listening');
    const { status, traceId } = await get(`${ready.url}/orders/9`);
    expect(status).toBe(200);
    expect(traceId).toBe('');
    const metrics = await (await fetch(ready.metricsUrl as string)).text();
    expect(metrics).toMatch(
      /meskit_http_server_request_duration_seconds_count\{method="GET",route="\/orders\/:id",status_code="200"\} 1/,
    );
    const line = app.jsonLines().find((l) => String(l['msg']).startsWith('order 9 read'));
    expect(line).toBeDefined();
    expect(line).not.toHaveProperty('trace_id');

    // Shutting down flushes whatever would have been exported: after the exit, nothing came.
    app.kill('SIGTERM');
    await app.exited;
    expect(otlp.exports).toHaveLength(0);
    expect(app.stderr()).toBe('');
  });
});

describe('never breaks the host', () => {
  it('warns once when the collector is unreachable, counts the dropped spans, and serves on', async () => {
    const closedPort = await freePort();
    const app = start('app.mjs', {
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${closedPort}`,
      OTEL_EXPORTER_OTLP_TIMEOUT: '500',
      OTEL_BSP_SCHEDULE_DELAY: '20',
    });
    const ready = await app.waitForEvent<Ready>('listening');
    expect((await get(`${ready.url}/orders/1`)).status).toBe(200);
    await app.waitForStderr('[MESKIT_OTEL_EXPORT_FAILED]');
    const metrics = await (await fetch(ready.metricsUrl as string)).text();
    expect(metrics).toMatch(/^meskit_otel_spans_dropped_total\{reason="export_failed"\} [1-9]/m);

    // More failing exports: more requests, and the flush at SIGTERM.
    for (const id of [2, 3, 4]) expect((await get(`${ready.url}/orders/${id}`)).status).toBe(200);
    app.kill('SIGTERM');
    await app.exited;
    expect(app.warningCount('MESKIT_OTEL_EXPORT_FAILED')).toBe(1);
    expect(app.stderr()).toContain(
      `cannot export spans to http://127.0.0.1:${closedPort}/v1/traces`,
    );
  });

  it('warns once about a malformed OTEL_TRACES_SAMPLER_ARG and samples everything', async () => {
    const app = start('app.mjs', {
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
      OTEL_BSP_SCHEDULE_DELAY: '20',
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: 'half',
    });
    const ready = await app.waitForEvent<Ready>('listening');
    const { status, traceId } = await get(`${ready.url}/orders/5`);
    expect(status).toBe(200);
    await otlp.waitForSpan((s) => s.traceId === traceId && s.kind === SPAN_KIND.SERVER);
    expect(app.warningCount('MESKIT_OTEL_INVALID_CONFIG')).toBe(1);
    expect(app.stderr()).toContain('OTEL_TRACES_SAMPLER_ARG="half" is not a ratio between 0 and 1');
  });

  it('warns once about an invalid endpoint URL, exports nothing and serves on', async () => {
    const app = start('app.mjs', { OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' });
    const ready = await app.waitForEvent<Ready>('listening');
    expect((await get(`${ready.url}/orders/6`)).status).toBe(200);
    expect(app.warningCount('MESKIT_OTEL_INVALID_CONFIG')).toBe(1);
    expect(app.stderr()).toContain(
      'OTEL_EXPORTER_OTLP_ENDPOINT="collector:4318" is not an http(s) URL',
    );
  });

  it('warns once when the metrics port is taken and serves the app anyway', async () => {
    const blocker = await listen(createServer());
    try {
      const { port } = blocker.address() as AddressInfo;
      const app = start('app.mjs', {
        MESKIT_METRICS_PORT: String(port),
        OTEL_SDK_DISABLED: 'true',
      });
      const ready = await app.waitForEvent<Ready>('listening');
      expect(ready.metricsUrl).toBeNull();
      expect((await get(`${ready.url}/orders/3`)).status).toBe(200);
      expect(app.warningCount('MESKIT_OTEL_METRICS_PORT_IN_USE')).toBe(1);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});

describe('bounded buffers', () => {
  it('drops and counts spans when the export queue is full, warns once, and bounds the exit by the shutdown timeout', async () => {
    // A collector that accepts connections and never answers: exports hang, the queue fills.
    const sockets = new Set<Socket>();
    const blackHole = createTcpServer((socket) => void sockets.add(socket));
    await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = blackHole.address() as AddressInfo;
      const app = start('app.mjs', {
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
        OTEL_EXPORTER_OTLP_TIMEOUT: '60000',
        OTEL_BSP_MAX_QUEUE_SIZE: '2',
        MESKIT_TELEMETRY_SHUTDOWN_TIMEOUT_MS: '300',
      });
      const ready = await app.waitForEvent<Ready>('listening');
      for (const id of [1, 2, 3]) expect((await get(`${ready.url}/orders/${id}`)).status).toBe(200);
      await app.waitForStderr('[MESKIT_OTEL_SPANS_DROPPED]');
      const metrics = await (await fetch(ready.metricsUrl as string)).text();
      expect(metrics).toMatch(/^meskit_otel_spans_dropped_total\{reason="queue_full"\} [1-9]/m);
      for (const id of [4, 5]) expect((await get(`${ready.url}/orders/${id}`)).status).toBe(200);

      app.kill('SIGTERM');
      expect(await app.exited).toEqual({ code: null, signal: 'SIGTERM' });
      expect(app.warningCount('MESKIT_OTEL_SPANS_DROPPED')).toBe(1);
      expect(app.warningCount('MESKIT_OTEL_SHUTDOWN_TIMEOUT')).toBe(1);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => blackHole.close(resolve));
    }
  });

  it('warns once when Loki refuses pushes, counts the lost lines, and serves on', async () => {
    loki.respondWith(500);
    const app = start('app.mjs', {
      OTEL_SDK_DISABLED: 'true',
      MESKIT_LOKI_URL: loki.url,
      MESKIT_LOKI_BATCH_INTERVAL_MS: '20',
    });
    const ready = await app.waitForEvent<Ready>('listening');
    expect((await get(`${ready.url}/orders/1`)).status).toBe(200);
    await app.waitForStderr('[MESKIT_OTEL_LOKI_PUSH_FAILED]');
    const metrics = await (await fetch(ready.metricsUrl as string)).text();
    expect(metrics).toMatch(/^meskit_otel_log_lines_dropped_total\{reason="push_failed"\} [1-9]/m);
    for (const id of [2, 3]) expect((await get(`${ready.url}/orders/${id}`)).status).toBe(200);

    app.kill('SIGTERM');
    await app.exited;
    expect(app.warningCount('MESKIT_OTEL_LOKI_PUSH_FAILED')).toBe(1);
    expect(app.stderr()).toContain(
      `cannot push log lines to Loki at ${new URL(loki.url).host}: Loki answered 500`,
    );
    expect(loki.lines).toEqual([]);
  });
});

describe('W3C trace context over HTTP with parentbased_traceidratio', () => {
  it('continues a sampled caller trace even at ratio 0, and samples no new root', async () => {
    const app = start('app.mjs', {
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
      OTEL_BSP_SCHEDULE_DELAY: '20',
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0',
    });
    const ready = await app.waitForEvent<Ready>('listening');
    const callerTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
    const callerSpan = '00f067aa0ba902b7';
    await get(`${ready.url}/orders/11`);
    const { traceId } = await get(`${ready.url}/orders/12`, {
      traceparent: `00-${callerTrace}-${callerSpan}-01`,
    });
    expect(traceId).toBe(callerTrace);
    const server = await otlp.waitForSpan(
      (s) => s.traceId === callerTrace && s.kind === SPAN_KIND.SERVER,
    );
    expect(server.parentSpanId).toBe(callerSpan);

    app.kill('SIGTERM');
    await app.exited;
    // After the final flush: only the continued trace was exported, not the unsampled root.
    expect(new Set(otlp.spans.map((s) => s.traceId))).toEqual(new Set([callerTrace]));
  });
});

async function listen(server: Server): Promise<Server> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

/** A loopback port nothing listens on (bound, then released). */
async function freePort(): Promise<number> {
  const server = await listen(createServer());
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
