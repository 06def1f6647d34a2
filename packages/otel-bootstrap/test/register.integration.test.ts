// Zero-code start, proven on real processes: an ESM app under `--import` and a CommonJS app
// under `--require` (test/fixtures), against the real PostgreSQL (and Redis) of the test run,
// exporting to the test OTLP receiver and Loki receiver.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  SPAN_KIND,
  startLokiReceiver,
  startOtlpReceiver,
  type LokiReceiver,
  type OtlpReceiver,
  type ReceivedSpan,
} from './peers/index.js';
import { ancestors, isPgQuery, spawnApp, withPassword, type SpawnedApp } from './helpers.js';

const DB_PASSWORD = 'S3cretPassw0rd-otel';
const BEARER_TOKEN = 'eyJhbGciOi.J9xTokenValue42.sig';
const API_KEY = 'k3y-0f-the-collector';

interface Ready extends Record<string, unknown> {
  url: string;
  metricsUrl: string | null;
}

describe.each([
  { flag: '--import' as const, app: 'app.mjs', kind: 'ESM' },
  { flag: '--require' as const, app: 'app.cjs', kind: 'CommonJS' },
])('$kind app under node $flag @meskit/otel-bootstrap/register', ({ flag, app, kind }) => {
  const services = inject('services');
  const serviceName = `otel-fixture-${kind.toLowerCase()}`;
  let otlp: OtlpReceiver;
  let loki: LokiReceiver;
  let child: SpawnedApp;
  let ready: Ready;
  let traceId: string;
  let carelessDir: string;

  beforeAll(async () => {
    otlp = await startOtlpReceiver();
    loki = await startLokiReceiver();
    carelessDir = await mkdtemp(join(tmpdir(), 'otel-bootstrap-careless-'));
    child = spawnApp({
      flag,
      app,
      env: {
        DATABASE_URL: withPassword(services.DATABASE_URL ?? '', DB_PASSWORD),
        REDIS_URL: services.REDIS_URL ?? '',
        OTEL_SERVICE_NAME: serviceName,
        OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=test,team=jewelry',
        OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
        OTEL_EXPORTER_OTLP_HEADERS: `x-api-key=${API_KEY}`,
        // Export within 100 ms instead of 5 s: the tests wait for spans, not for timers.
        OTEL_BSP_SCHEDULE_DELAY: '100',
        MESKIT_METRICS_PORT: '0',
        MESKIT_LOKI_URL: loki.url,
        MESKIT_LOKI_BATCH_INTERVAL_MS: '100',
        MESKIT_LOG_STDOUT: 'true',
        FIXTURE_CARELESS_LOG: join(carelessDir, 'careless.log'),
      },
    });
    ready = await child.waitForEvent<Ready>('listening');
    const response = await fetch(`${ready.url}/orders/42`, {
      headers: { authorization: `Bearer ${BEARER_TOKEN}` },
    });
    expect(response.status).toBe(200);
    traceId = response.headers.get('x-trace-id') ?? '';
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
  });

  afterAll(async () => {
    child?.kill('SIGTERM');
    await child?.exited;
    await otlp?.close();
    await loki?.close();
    if (carelessDir) await rm(carelessDir, { recursive: true, force: true });
  });

  it('exports the HTTP server span and the pg spans of a request as one trace', async () => {
    const spans = await otlp.waitForSpans((all) => {
      const trace = all.filter((s) => s.traceId === traceId);
      return trace.some((s) => s.kind === SPAN_KIND.SERVER) && trace.some(isPgQuery);
    });
    const trace = spans.filter((s) => s.traceId === traceId);
    const server = trace.find((s) => s.kind === SPAN_KIND.SERVER) as ReceivedSpan;
    expect(server.name).toBe('GET /orders/:id');
    expect(server.parentSpanId).toBeUndefined();
    expect(server.attributes).toMatchObject({
      'http.request.method': 'GET',
      'http.route': '/orders/:id',
      'http.response.status_code': 200,
    });
    const query = trace.find(isPgQuery) as ReceivedSpan;
    expect(query.kind).toBe(SPAN_KIND.CLIENT);
    expect(query.attributes['db.query.text']).toBe(
      'SELECT $1::int AS id, current_database() AS db',
    );
    expect(ancestors(query, trace)).toContain(server.spanId);
    expect(server.serviceName).toBe(serviceName);
    expect(server.resource).toMatchObject({
      'deployment.environment.name': 'test',
      team: 'jewelry',
    });
    // OTEL_EXPORTER_OTLP_HEADERS reached the collector (a managed backend's auth header).
    expect(otlp.exports.every((e) => e.headers['x-api-key'] === API_KEY)).toBe(true);
    // fs, dns and net instrumentations are never loaded.
    expect(spans.filter((s) => /instrumentation-(fs|dns|net)$/.test(s.scope.name))).toEqual([]);
  });

  it('serves /metrics on its own port with the request histogram and Node default metrics', async () => {
    expect(ready.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const response = await fetch(ready.metricsUrl as string);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    expect(text).toMatch(
      /^meskit_http_server_request_duration_seconds_count\{method="GET",route="\/orders\/:id",status_code="200"\} 1$/m,
    );
    expect(text).toMatch(/^process_cpu_user_seconds_total \d/m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds \d/m);
    // Scrapes are neither traced nor counted as application traffic.
    expect(text).not.toMatch(/route="\/metrics"/);
  });

  it('adds the trace id as an exemplar when the scraper asks for OpenMetrics', async () => {
    const response = await fetch(ready.metricsUrl as string, {
      headers: { accept: 'application/openmetrics-text;version=1.0.0,text/plain;q=0.5' },
    });
    expect(response.headers.get('content-type')).toMatch(/^application\/openmetrics-text/);
    const text = await response.text();
    const exemplar = new RegExp(
      `^meskit_http_server_request_duration_seconds_bucket\\{le="[^"]+",method="GET",route="/orders/:id",status_code="200"\\} 1 # \\{trace_id="${traceId}",span_id="[0-9a-f]{16}"\\} [\\d.e-]+ [\\d.]+$`,
      'm',
    );
    expect(text).toMatch(exemplar);
    expect(text.endsWith('# EOF\n')).toBe(true);
  });

  it("writes log lines carrying the request's trace_id to stdout and to Loki", async () => {
    const stdoutLine = child.jsonLines().find((l) => String(l['msg']).startsWith('order 42 read'));
    expect(stdoutLine).toMatchObject({
      trace_id: traceId,
      trace_flags: '01',
      service: serviceName,
      env: 'test',
    });
    expect(stdoutLine?.['span_id']).toMatch(/^[0-9a-f]{16}$/);
    // The application's own pino logger gets the same fields through instrumentation-pino.
    const ownLine = child.jsonLines().find((l) => l['msg'] === 'own pino logger line');
    expect(ownLine).toMatchObject({ trace_id: traceId });

    const lokiLine = await loki.waitForLine(
      (l) => l.json?.['trace_id'] === traceId && String(l.json['msg']).startsWith('order 42 read'),
    );
    // Low-cardinality labels only: no hostname, pid, trace id or route.
    expect(lokiLine.labels).toEqual({ service: serviceName, env: 'test', level: 'info' });
  });

  it("ships the application's own pino lines to Loki too, with the trace id and the same labels", async () => {
    const ownLine = await loki.waitForLine((l) => l.json?.['msg'] === 'own pino logger line');
    expect(ownLine.json).toMatchObject({
      level: 30,
      logger: 'own',
      orderId: 42,
      trace_id: traceId,
      span_id: expect.stringMatching(/^[0-9a-f]{16}$/),
      trace_flags: '01',
      pid: child.pid,
      service: serviceName,
      env: 'test',
    });
    expect(ownLine.labels).toEqual({ service: serviceName, env: 'test', level: 'info' });
    // Its time is the one the application's logger wrote.
    const written = child.jsonLines().find((l) => l['msg'] === 'own pino logger line');
    expect(ownLine.json?.['time']).toBe(written?.['time']);
  });

  it('ships each root logger line to Loki once, not a second time as an application line', async () => {
    // The careless line is written after the root line: once it arrived, so did any duplicate.
    await loki.waitForLine((l) => l.json?.['logger'] === 'careless');
    const rootLines = loki.lines.filter((l) => String(l.json?.['msg']).startsWith('order 42 read'));
    expect(rootLines).toHaveLength(1);
  });

  it("masks secrets in the application's own lines before they reach Loki", async () => {
    const lokiLine = await loki.waitForLine((l) => l.json?.['logger'] === 'careless');
    // The application did write the secrets (to its own file): the masking is ours.
    const written = await readFile(join(carelessDir, 'careless.log'), 'utf8');
    expect(written).toContain(DB_PASSWORD);
    expect(written).toContain(BEARER_TOKEN);

    expect(lokiLine.json).toMatchObject({
      trace_id: traceId,
      databaseUrl: withPassword(services.DATABASE_URL ?? '', '***'),
      headers: expect.objectContaining({ authorization: '***' }),
      msg: `careless line: connected to ${withPassword(services.DATABASE_URL ?? '', '***')} for Bearer ***`,
    });
    expect(lokiLine.line).not.toContain(DB_PASSWORD);
    expect(lokiLine.line).not.toContain(BEARER_TOKEN);
  });

  it('lets no secret through: not the database password, not the Authorization header', async () => {
    await loki.waitForLine((l) => l.json?.['trace_id'] === traceId);
    const line = child.jsonLines().find((l) => String(l['msg']).startsWith('order 42 read'));
    expect(line?.['databaseUrl']).toBe(withPassword(services.DATABASE_URL ?? '', '***'));
    expect((line?.['headers'] as Record<string, unknown>)['authorization']).toBe('***');
    const everything = [
      child.stdout(),
      child.stderr(),
      ...loki.lines.map((l) => l.line),
      JSON.stringify(otlp.spans.map((s) => [s.attributes, s.resource])),
    ].join('\n');
    expect(everything).not.toContain(DB_PASSWORD);
    expect(everything).not.toContain(BEARER_TOKEN);
  });

  // The ESM fixture also talks to Redis (ioredis imported with `import`, hooked by the loader).
  if (kind === 'ESM') {
    it('traces ioredis commands inside the request', async () => {
      const response = await fetch(`${ready.url}/cache/order42`);
      expect(response.status).toBe(200);
      const cacheTrace = response.headers.get('x-trace-id') ?? '';
      const span = await otlp.waitForSpan((s) => s.traceId === cacheTrace && s.name === 'get');
      expect(span.kind).toBe(SPAN_KIND.CLIENT);
      expect(span.attributes['db.system.name']).toBe('redis');
    });
  }
});
