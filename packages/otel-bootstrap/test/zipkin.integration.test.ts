// Traces to Zipkin: the reference MES started with `--import @meskit/otel-bootstrap/register`
// and OTEL_TRACES_EXPORTER=zipkin, and a downstream consumer of its events likewise. An
// operator's take is ONE trace at a Zipkin v2 receiver that checks every span as Zipkin does:
// the HTTP server span at its root, its pg queries and the publish of
// order.manufacturing_started under it, the consumer's span under the publish. Every parentId
// names a span received in the same trace.
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createTestDatabase, deleteTopology, type TestDatabase } from '@meskit/testkit';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { spawnApp, uniqueName, type SpawnedApp } from './helpers.js';
import { startZipkinReceiver, type ZipkinReceiver, type ZipkinSpan } from './peers/index.js';

const MES_MAIN = join(
  dirname(createRequire(import.meta.url).resolve('@meskit/reference-mes/package.json')),
  'dist',
  'main.js',
);
const TAKE_ROUTE = '/api/orders/:id/take';

describe('traces exported to Zipkin (OTEL_TRACES_EXPORTER=zipkin)', () => {
  const services = inject('services');
  const exchange = uniqueName('otel-bootstrap.zipkin.events');
  const queue = uniqueName('otel-bootstrap.zipkin.inbox');
  let zipkin: ZipkinReceiver;
  let db: TestDatabase;
  let modelDir: string;
  let mes: SpawnedApp;
  let downstream: SpawnedApp;
  let orderId: number;

  beforeAll(async () => {
    zipkin = await startZipkinReceiver();
    db = await createTestDatabase('otel_zipkin');
    modelDir = await mkdtemp(join(tmpdir(), 'otel-bootstrap-zipkin-'));
    const zipkinEnv = {
      OTEL_TRACES_EXPORTER: 'zipkin',
      OTEL_EXPORTER_ZIPKIN_ENDPOINT: zipkin.spansUrl,
      // Export within 100 ms instead of seconds: the test waits for data, not for timers.
      OTEL_BSP_SCHEDULE_DELAY: '100',
    };
    mes = spawnApp({
      flag: '--import',
      app: MES_MAIN,
      env: {
        ...zipkinEnv,
        DATABASE_URL: db.url,
        AMQP_URL: services.AMQP_URL ?? '',
        MES_EXCHANGE: exchange,
        MES_QUEUE: queue,
        MES_PORT: '0',
        MES_MODEL_DIR: modelDir,
        OTEL_SERVICE_NAME: 'mes',
        MESKIT_METRICS_PORT: 'off',
      },
    });
    const { url } = await mes.waitForEvent<{ url: string }>('listening');
    // The MES created its schema at start: an order approved for manufacturing, to take.
    const inserted = await db.query<{ id: string }>(
      `INSERT INTO orders (external_id, source, status, model_ref, price)
       VALUES ($1, 'b2c', 'MANUFACTURING_APPROVED', 'shop/ring.stl', 99.5) RETURNING id`,
      [uniqueName('SHOP')],
    );
    orderId = Number(inserted.rows[0]?.id);
    downstream = spawnApp({
      flag: '--import',
      app: 'order-events-consumer.mjs',
      env: {
        ...zipkinEnv,
        AMQP_URL: services.AMQP_URL ?? '',
        FIXTURE_EXCHANGE: exchange,
        FIXTURE_BINDING: 'order.manufacturing_started',
        OTEL_SERVICE_NAME: 'downstream',
        MESKIT_METRICS_PORT: 'off',
      },
    });
    await downstream.waitForEvent('ready');
    const take = await fetch(`${url}/api/orders/${orderId}/take`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ operatorId: 1 }),
    });
    expect(take.status).toBe(200);
    await downstream.waitForEvent('consumed');
  });

  afterAll(async () => {
    downstream?.kill('SIGTERM');
    mes?.kill('SIGTERM');
    await Promise.all([downstream?.exited, mes?.exited]);
    await zipkin?.close();
    await deleteTopology(services.AMQP_URL ?? '', exchange, queue).catch(() => undefined);
    await db?.drop();
    if (modelDir) await rm(modelDir, { recursive: true, force: true });
  });

  it('gets the take as one trace: server span, its queries and publish, the consumer under the publish', async () => {
    const isTake = (s: ZipkinSpan) => s.kind === 'SERVER' && s.name === `POST ${TAKE_ROUTE}`;
    const all = await zipkin.waitForSpans((spans) => {
      const server = spans.find(isTake);
      return (
        server !== undefined &&
        spans.some((s) => s.traceId === server.traceId && s.kind === 'CONSUMER')
      );
    });
    expect(zipkin.rejections).toEqual([]);
    const server = all.find(isTake)!;
    const trace = all.filter((s) => s.traceId === server.traceId);
    expect(server.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(server.parentId).toBeUndefined();
    expect(server.localEndpoint?.serviceName).toBe('mes');
    expect(server.tags).toMatchObject({
      'http.request.method': 'POST',
      'http.route': TAKE_ROUTE,
      'http.response.status_code': '200',
      'service.name': 'mes',
    });
    expect(server.timestamp).toBeGreaterThan(Date.parse('2020-01-01') * 1000);
    expect(server.duration).toBeGreaterThan(0);

    const byId = new Map(trace.map((s) => [s.id, s]));
    const chain = (span: ZipkinSpan): string[] => {
      const ids: string[] = [];
      for (let p = span.parentId; p !== undefined && !ids.includes(p); p = byId.get(p)?.parentId)
        ids.push(p);
      return ids;
    };
    // Every parent is a span of the trace: no dangling parentId.
    for (const span of trace)
      if (span.parentId !== undefined) expect(byId.has(span.parentId), span.name).toBe(true);

    const queries = trace.filter((s) => s.name?.startsWith('pg.query'));
    expect(queries.length).toBeGreaterThanOrEqual(2);
    for (const query of queries) {
      expect(query.kind).toBe('CLIENT');
      expect(query.tags['db.system.name']).toBe('postgresql');
      expect(chain(query)).toContain(server.id);
    }
    expect(queries.some((q) => q.tags['db.query.text']?.includes('UPDATE orders'))).toBe(true);

    const publish = trace.find(
      (s) =>
        s.kind === 'PRODUCER' &&
        s.tags['messaging.rabbitmq.routing_key'] === 'order.manufacturing_started',
    );
    expect(publish, 'the publish of order.manufacturing_started').toBeDefined();
    expect(chain(publish!)).toContain(server.id);

    const consumer = trace.find((s) => s.kind === 'CONSUMER')!;
    expect(consumer.localEndpoint?.serviceName).toBe('downstream');
    expect(chain(consumer)).toContain(publish!.id);
  });
});
