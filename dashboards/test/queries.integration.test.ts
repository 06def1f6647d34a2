// Every dashboard and rule query, evaluated by the real Prometheus of the test run, and by its
// real VictoriaMetrics, which scrapes the same targets (every data check runs on both).
//
// Always on: each query is valid for that Prometheus (the version the services library
// installs), with dashboard variables substituted as Grafana would.
//
// And the data checks, each for the dashboards and rules of one component:
// - the reference MES runs under @meskit/otel-bootstrap, Prometheus scrapes it, and every MES
//   query must return data for that job;
// - two pricing sidecars (`meskit pricing serve` under @meskit/otel-bootstrap, as deployed) serve
//   quotes, one with a working Redis cache and one whose Redis is unreachable, Prometheus scrapes
//   both as one job, and every pricing query must return data for it;
// - three cache sidecars (`meskit cache-proxy` under @meskit/otel-bootstrap) in front of a
//   reference MES: one on the test Redis (misses, hits, a take, an admin invalidation), one
//   consuming order events from the test RabbitMQ (write-through, an event invalidation, a
//   poison event), one whose Redis is unreachable (Redis errors, bypassed reads); Prometheus
//   scrapes the three as one job, and every cache-proxy query must return data for it;
// - a reference MES on @meskit/mq-reliable (MES_MESSAGING=reliable, under @meskit/otel-bootstrap)
//   on a database, exchange and CRM inbox queue of its own: takes published through its outbox
//   (one unroutable until a CRM queue is bound, then relayed), CRM messages acked, a duplicate
//   skipped by the inbox, two dead-lettered (an unknown order, a body that is not JSON);
//   Prometheus scrapes it, and every messaging query must return data for it;
// - a reference MES on @meskit/db-router (DATABASE_REPLICA_URL set, under @meskit/otel-bootstrap)
//   on a database of its own and that database on the test run's streaming replica: list reads
//   (served by the replica), a take (the primary) and a read with the take's x-meskit-lsn token
//   (read-your-writes); Prometheus scrapes it, and every database routing query must return data
//   for it.
// They need otel-bootstrap, the reference MES, mq-reliable, db-router and the CLI built (`npm test` builds
// first).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createReferenceMes, generateRingStl, type ReferenceMes } from '@meskit/reference-mes';
import { attachServices } from '@meskit/services';
import { deleteConsumerTopology, waitFor, withClient } from '@meskit/testkit';
import amqp from 'amqplib';
import pg from 'pg';
import { loadMetricsDoc } from './artifacts.js';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { REPO_ROOT } from './artifacts.js';
import { collectQueries, evaluateAll, type ShippedQuery } from './queries.js';

/** Asynchronous effects with nothing to wait on (a consumer connecting, events applied). */
const POLL = { timeoutMs: 30_000, intervalMs: 100 };

// The pricing sidecar's and the cache sidecar's dashboards and rules: each checked against its
// scraped sidecars, the rest against the scraped MES (each reads metrics the others do not serve).
const PRICING_FILES = [
  'dashboards/grafana/pricing-runner.json',
  'dashboards/prometheus/rules/pricing-runner.rules.yml',
];
const CACHE_PROXY_FILES = [
  'dashboards/grafana/cache-proxy.json',
  'dashboards/prometheus/rules/cache-proxy.rules.yml',
];
const readsFrom =
  (files: readonly string[]) =>
  (query: ShippedQuery): boolean =>
    files.some((file) => query.source.startsWith(`${file}:`));
const MQ_FILES = [
  'dashboards/grafana/mq-reliable.json',
  'dashboards/prometheus/rules/mq-reliable.rules.yml',
];
const isPricingQuery = readsFrom(PRICING_FILES);
const isCacheProxyQuery = readsFrom(CACHE_PROXY_FILES);
const isMqQuery = readsFrom(MQ_FILES);
const DB_FILES = [
  'dashboards/grafana/db-router.json',
  'dashboards/prometheus/rules/db-router.rules.yml',
];
const isDbQuery = readsFrom(DB_FILES);

const services = inject('services');
const prometheusUrl = services.PROMETHEUS_URL ?? '';
// Scrapes the same targets as Prometheus: every data check below runs on both.
const victoriaMetricsUrl = services.VICTORIA_METRICS_URL ?? '';

describe('dashboard and rule queries on the real Prometheus', () => {
  it('are all valid', async () => {
    expect(prometheusUrl, 'the test run has no Prometheus').not.toBe('');
    const report = await evaluateAll(prometheusUrl, { requireData: false });
    expect(report.outcomes.length).toBe(collectQueries().length);
    expect(report.outcomes.length).toBeGreaterThan(20);
    expect(report.problems).toEqual([]);
  });

  it('are all valid MetricsQL for the real VictoriaMetrics too', async () => {
    expect(victoriaMetricsUrl, 'the test run has no VictoriaMetrics').not.toBe('');
    const report = await evaluateAll(victoriaMetricsUrl, { requireData: false });
    expect(report.outcomes.length).toBe(collectQueries().length);
    expect(report.problems).toEqual([]);
  });

  it('are reported when Prometheus rejects them or, when data is required, return nothing', async () => {
    const queries: ShippedQuery[] = [
      { kind: 'panel', source: 'unbalanced', expr: 'sum(rate(up[5m])' },
      // Valid syntax, but a range vector where a graph needs an instant vector.
      { kind: 'panel', source: 'range vector', expr: 'up[$__rate_interval]' },
      { kind: 'panel', source: 'typo in variable', expr: 'up{job=~"$jb"}' },
      { kind: 'panel', source: 'absent metric', expr: 'meskit_no_such_metric_total{job=~"$job"}' },
    ];
    const valid = await evaluateAll(prometheusUrl, { requireData: false, queries });
    expect(valid.problems).toEqual([
      expect.stringMatching(/^unbalanced: Prometheus rejected it: bad_data/),
      expect.stringMatching(/^range vector: Prometheus rejected it: bad_data/),
      'typo in variable: unknown dashboard variable $jb',
    ]);
    const withData = await evaluateAll(prometheusUrl, { requireData: true, queries });
    expect(withData.problems).toContain('absent metric: no data');
  });
});

describe('dashboard and rule queries on a scraped, instrumented MES', () => {
  const job = `dashboards-mes-${process.pid}`;
  const prometheus = attachServices(services.MESKIT_SERVICES_DIR).prometheus;
  const modelDir = mkdtempSync(join(tmpdir(), 'meskit-dashboards-models-'));
  let mes: ChildProcess | undefined;

  afterAll(async () => {
    // An empty target list retires the job; Prometheus keeps re-reading the file.
    prometheus?.setScrapeJob({ job, targets: [] });
    if (mes && mes.exitCode === null && mes.signalCode === null) {
      const exited = new Promise((resolve) => mes?.once('exit', resolve));
      mes.kill('SIGTERM');
      await exited;
    }
    rmSync(modelDir, { recursive: true, force: true });
  });

  it('return data for every query', { timeout: 120_000 }, async () => {
    expect(prometheus, 'the test run has no Prometheus').toBeDefined();
    const metricsPort = await freePort();
    const started = spawnInstrumentedMes({
      DATABASE_URL: services.DATABASE_URL ?? '',
      MES_MODEL_DIR: modelDir,
      MESKIT_METRICS_PORT: String(metricsPort),
      // No collector here: record metrics, sample no traces.
      OTEL_TRACES_SAMPLER: 'always_off',
    });
    mes = started.child;
    const mesUrl = await started.listening;
    prometheus?.setScrapeJob({ job, targets: [`127.0.0.1:${metricsPort}`] });

    // Traffic on the routes the dashboard and the SLOs look at.
    for (let i = 0; i < 20; i++) {
      const page = await fetch(
        `${mesUrl}/api/orders?status=MANUFACTURING_APPROVED&page=1&pageSize=20`,
      );
      expect(page.status).toBe(200);
      await page.arrayBuffer();
      await (await fetch(`${mesUrl}/health`)).arrayBuffer();
    }
    // rate() needs two samples of the request histogram: wait for Prometheus to have them.
    await queryUntil(
      `count_over_time(meskit_http_server_request_duration_seconds_count{job="${job}", route="/api/orders"}[1m]) >= 2`,
    );

    // Series appear as Prometheus scrapes them (every second); on a loaded machine some need
    // a few more scrapes. Re-evaluate until every query has data, or report what is missing.
    const queries = collectQueries().filter(
      (query) =>
        !isPricingQuery(query) &&
        !isCacheProxyQuery(query) &&
        !isMqQuery(query) &&
        !isDbQuery(query),
    );
    expect(queries.length).toBeGreaterThan(20);
    const pageAndHealth = async () => {
      await (
        await fetch(`${mesUrl}/api/orders?status=MANUFACTURING_APPROVED&page=1&pageSize=20`)
      ).arrayBuffer();
      await (await fetch(`${mesUrl}/health`)).arrayBuffer();
    };
    expect(await evaluateUntilData(queries, job, pageAndHealth)).toEqual([]);

    // And the other way round: every metric family the instrumented MES exposes is listed in
    // docs/metrics.md with its type, so the page cannot fall behind the code.
    expect(
      undocumentedFamilies(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()),
      'exposed but not in docs/metrics.md with that type',
    ).toEqual([]);
  });
});

describe('pricing dashboard and rule queries on scraped pricing sidecars', () => {
  const job = `dashboards-pricing-${process.pid}`;
  const prometheus = attachServices(services.MESKIT_SERVICES_DIR).prometheus;
  const sidecars: ChildProcess[] = [];

  afterAll(async () => {
    prometheus?.setScrapeJob({ job, targets: [] });
    await Promise.all(sidecars.map((child) => stop(child)));
  });

  it('return data for every query', { timeout: 120_000 }, async () => {
    expect(prometheus, 'the test run has no Prometheus').toBeDefined();
    expect(services.REDIS_URL, 'the test run has no Redis').toBeTruthy();
    // Two replicas of one deployment: one with its Redis cache working (hits), one whose Redis
    // is unreachable (cache errors; its quotes are still computed).
    const started = [
      spawnPricingSidecar(services.REDIS_URL ?? ''),
      spawnPricingSidecar(`redis://127.0.0.1:${await freePort()}`),
    ];
    sidecars.push(...started.map((s) => s.child));
    const urls = await Promise.all(started.map((s) => s.listening));
    prometheus?.setScrapeJob({ job, targets: urls.map((url) => new URL(url).host) });

    // A model no earlier run has cached (Redis outlives test runs), quoted twice on each
    // sidecar, and a body that is no model at all (a failed quote: the error series).
    const ring = generateRingStl({ triangles: 2_000, innerDiameterMm: 15 + Math.random() * 5 });
    for (const url of urls) {
      const quote = (body: Uint8Array) =>
        fetch(`${url}/v1/quotes`, {
          method: 'POST',
          body,
          headers: { 'content-type': 'application/octet-stream' },
        });
      const first = await quote(ring);
      expect(first.status).toBe(200);
      expect(((await first.json()) as { cached: boolean }).cached).toBe(false);
      const again = await quote(ring);
      expect(again.status).toBe(200);
      await again.arrayBuffer();
      const broken = await quote(new TextEncoder().encode('not a 3D model'));
      expect(broken.status).toBe(422);
      expect(((await broken.json()) as { error: { code: string } }).error.code).toBe(
        'UNKNOWN_FORMAT',
      );
    }

    await queryUntil(
      `count_over_time(meskit_pricing_jobs_total{job="${job}", outcome="ok"}[1m]) >= 2`,
    );
    const queries = collectQueries().filter(isPricingQuery);
    // The dashboard's variables and panels, and the five alerts.
    expect(queries.length).toBeGreaterThan(20);
    expect(queries.filter((query) => query.kind === 'alert')).toHaveLength(5);
    // Quotes keep coming: a model not seen before (computed), then the same again (a cache hit).
    const quotes = async () => {
      const model = generateRingStl({ triangles: 500, innerDiameterMm: 15 + Math.random() * 5 });
      for (let i = 0; i < 2; i++) {
        const response = await fetch(`${urls[0]}/v1/quotes`, {
          method: 'POST',
          body: model,
          headers: { 'content-type': 'application/octet-stream' },
        });
        await response.arrayBuffer();
      }
    };
    expect(await evaluateUntilData(queries, job, quotes)).toEqual([]);

    for (const url of urls) {
      expect(
        undocumentedFamilies(await (await fetch(`${url}/metrics`)).text()),
        `${url}/metrics exposes families not in docs/metrics.md with that type`,
      ).toEqual([]);
    }
  });
});

describe('cache-proxy dashboard and rule queries on scraped cache sidecars', () => {
  const job = `dashboards-cache-proxy-${process.pid}`;
  const prometheus = attachServices(services.MESKIT_SERVICES_DIR).prometheus;
  // Test files run in parallel against the same servers: a database, an exchange and a Redis
  // key prefix of our own.
  const run = `${process.pid}_${randomBytes(4).toString('hex')}`;
  const database = `dashboards_cache_${run}`;
  const exchange = `dashboards.cache-proxy.events.${run}`;
  const keyPrefix = `meskit:dashboards:${run}:`;
  const token = randomBytes(16).toString('hex');
  const modelDir = mkdtempSync(join(tmpdir(), 'meskit-dashboards-cache-'));
  const proxies: ChildProcess[] = [];
  let mes: ReferenceMes | undefined;
  let pool: pg.Pool | undefined;
  let broker: amqp.ChannelModel | undefined;

  afterAll(async () => {
    prometheus?.setScrapeJob({ job, targets: [] });
    await Promise.all(proxies.map((child) => stop(child)));
    await mes?.close();
    await pool?.end();
    if (broker) {
      const channel = await broker.createChannel().catch(() => undefined);
      await channel?.deleteExchange(exchange).catch(() => undefined);
      await broker.close().catch(() => undefined);
    }
    if (services.DATABASE_URL) {
      await withClient(services.DATABASE_URL, (c) =>
        c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`),
      );
    }
    rmSync(modelDir, { recursive: true, force: true });
  });

  it('return data for every query', { timeout: 120_000 }, async () => {
    expect(prometheus, 'the test run has no Prometheus').toBeDefined();
    const { DATABASE_URL: adminUrl, REDIS_URL: redisUrl, AMQP_URL: amqpUrl } = services;
    expect(
      adminUrl && redisUrl && amqpUrl,
      'the test run has no PostgreSQL/Redis/RabbitMQ',
    ).toBeTruthy();

    // The reference MES on a database of its own: ten approved orders (the cached list), and
    // a newer one still being priced (approved later, announced by an event).
    await withClient(adminUrl ?? '', (c) => c.query(`CREATE DATABASE ${database}`));
    const databaseUrl = new URL(adminUrl ?? '');
    databaseUrl.pathname = `/${database}`;
    mes = await createReferenceMes({
      databaseUrl: databaseUrl.toString(),
      modelDir,
      logLevel: 'silent',
    });
    pool = new pg.Pool({ connectionString: databaseUrl.toString(), max: 2 });
    const now = Date.now();
    const statuses = [...Array<string>(10).fill('MANUFACTURING_APPROVED'), 'PRICE_CALCULATED'];
    const inserted = await pool.query<{ id: string }>(
      `INSERT INTO orders (external_id, source, status, model_ref, created_at, updated_at)
       SELECT 'dash-' || i, 'b2c', s, 'test/model.stl', c, c
       FROM unnest($1::text[], $2::timestamptz[]) WITH ORDINALITY AS t(s, c, i)
       RETURNING id`,
      [statuses, statuses.map((_, i) => new Date(now - (statuses.length - i) * 60_000))],
    );
    const freshId = Number(inserted.rows.at(-1)?.id);

    broker = await amqp.connect(amqpUrl ?? '');
    const channel = await broker.createConfirmChannel();
    await channel.assertExchange(exchange, 'topic', { durable: true });
    const publish = async (routingKey: string, body: string | Record<string, unknown>) => {
      const content = typeof body === 'string' ? body : JSON.stringify(body);
      channel.publish(exchange, routingKey, Buffer.from(content), {
        contentType: 'application/json',
      });
      await channel.waitForConfirms();
    };

    // Three replicas of one deployment: the index in Redis; the index in memory, kept right by
    // the order events; Redis unreachable (every cached read forwarded).
    const started = [
      await spawnCacheProxy(mes.url, token, [
        '--redis-url',
        redisUrl ?? '',
        '--key-prefix',
        keyPrefix,
      ]),
      await spawnCacheProxy(mes.url, token, ['--amqp-url', amqpUrl ?? '', '--exchange', exchange]),
      await spawnCacheProxy(mes.url, token, [
        '--redis-url',
        `redis://127.0.0.1:${await freePort()}`,
      ]),
    ];
    proxies.push(...started.map((s) => s.child));
    const urls = await Promise.all(started.map((s) => s.listening));
    prometheus?.setScrapeJob({ job, targets: started.map((s) => `127.0.0.1:${s.metricsPort}`) });
    const [redisProxy, eventsProxy, brokenProxy] = urls as [string, string, string];
    const [redisAdmin, eventsAdmin] = started.map((s) => `http://127.0.0.1:${s.adminPort}`) as [
      string,
      string,
    ];
    const admin = (base: string, path: string, method = 'GET') =>
      fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${token}` } });
    const list = async (base: string) => {
      const response = await fetch(`${base}${FIRST_PAGE}`);
      expect(response.status).toBe(200);
      const body = (await response.json()) as { items: { id: number }[] };
      return {
        cacheStatus: response.headers.get('cache-status'),
        ids: body.items.map((o) => o.id),
      };
    };

    // Redis: a miss fills the index, then hits; a take through the proxy and an admin
    // invalidation each remove an order.
    const first = await list(redisProxy);
    expect(first.cacheStatus).toBe('meskit; fwd=miss; stored');
    expect(first.ids).toHaveLength(10);
    for (let i = 0; i < 5; i++) expect((await list(redisProxy)).cacheStatus).toBe('meskit; hit');
    const take = await fetch(`${redisProxy}/api/orders/${first.ids[0]}/take`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ operatorId: 1 }),
    });
    expect(take.status).toBe(200);
    await take.arrayBuffer();
    expect((await admin(redisAdmin, `/invalidate/${first.ids[1]}`, 'POST')).status).toBe(204);
    expect((await list(redisProxy)).ids).not.toContain(first.ids[1]);

    // Events: once the consumer is connected (a connect drops the index), fill the index, then
    // an approval (write-through), a take at the MES (an event invalidation) and a poison body.
    await waitFor(
      'the cache proxy consumes order events',
      async () => {
        const stats = (await (await admin(eventsAdmin, '/stats')).json()) as { consumer: string };
        return stats.consumer === 'connected';
      },
      POLL,
    );
    await list(eventsProxy);
    expect((await list(eventsProxy)).cacheStatus).toBe('meskit; hit');
    await pool.query(`UPDATE orders SET status = 'MANUFACTURING_APPROVED' WHERE id = $1`, [
      freshId,
    ]);
    const event = { externalId: 'x', occurredAt: new Date().toISOString() };
    await publish('order.manufacturing_approved', {
      ...event,
      orderId: freshId,
      status: 'MANUFACTURING_APPROVED',
      previousStatus: 'PRICE_CALCULATED',
    });
    await publish('order.manufacturing_started', {
      ...event,
      orderId: first.ids[2],
      status: 'MANUFACTURING_STARTED',
      previousStatus: 'MANUFACTURING_APPROVED',
    });
    await publish('order.manufacturing_approved', 'not an order event');
    await waitFor(
      'the events are applied',
      async () => {
        const stats = (await (await admin(eventsAdmin, '/stats')).json()) as {
          writes: number;
          events: { applied: number; poison: number };
        };
        return stats.writes >= 1 && stats.events.applied >= 2 && stats.events.poison >= 1;
      },
      POLL,
    );

    // Redis unreachable: cached reads are forwarded (bypass) after a failed store operation.
    for (let i = 0; i < 3; i++) {
      expect((await list(brokenProxy)).cacheStatus).toMatch(/fwd=bypass; detail=redis-error/);
    }
    // More hits, so that rate() sees them after their series appeared.
    for (let i = 0; i < 5; i++) {
      await list(redisProxy);
      await list(eventsProxy);
    }

    await queryUntil(
      `count_over_time(meskit_cache_requests_total{job="${job}", result="hit"}[1m]) >= 2`,
    );
    const queries = collectQueries().filter(isCacheProxyQuery);
    // The dashboard's variables and panels, and the five alerts.
    expect(queries.length).toBeGreaterThan(20);
    expect(queries.filter((query) => query.kind === 'alert')).toHaveLength(5);
    // Fills keep happening: every cached list dropped, then the page read twice (a fill, a hit).
    const fills = async () => {
      await (await admin(redisAdmin, '/rebuild', 'POST')).arrayBuffer();
      await list(redisProxy);
      await list(redisProxy);
    };
    expect(await evaluateUntilData(queries, job, fills)).toEqual([]);

    for (const { metricsPort } of started) {
      expect(
        undocumentedFamilies(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()),
        `the cache proxy's /metrics exposes families not in docs/metrics.md with that type`,
      ).toEqual([]);
    }
  });
});

describe('messaging dashboard and rule queries on a scraped MES with reliable messaging', () => {
  const job = `dashboards-mq-${process.pid}`;
  const prometheus = attachServices(services.MESKIT_SERVICES_DIR).prometheus;
  // A database (its outbox and inbox tables), an exchange and a CRM inbox queue of our own:
  // test files run in parallel against the same servers.
  const run = `${process.pid}_${randomBytes(4).toString('hex')}`;
  const database = `dashboards_mq_${run}`;
  const exchange = `dashboards.mq.events.${run}`;
  const queue = `dashboards.mq.crm-inbox.${run}`;
  const modelDir = mkdtempSync(join(tmpdir(), 'meskit-dashboards-mq-'));
  let mes: ChildProcess | undefined;
  let pool: pg.Pool | undefined;
  let broker: amqp.ChannelModel | undefined;

  afterAll(async () => {
    prometheus?.setScrapeJob({ job, targets: [] });
    if (mes) await stop(mes);
    await pool?.end();
    await broker?.close().catch(() => undefined);
    // What the MES declared, whether or not the test got as far as connecting itself: the
    // consumer's queue with its wait queues and its DLQ, and the exchange.
    if (services.AMQP_URL)
      await deleteConsumerTopology(services.AMQP_URL, queue, exchange).catch(() => undefined);
    if (services.DATABASE_URL) {
      await withClient(services.DATABASE_URL, (c) =>
        c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`),
      );
    }
    rmSync(modelDir, { recursive: true, force: true });
  });

  it('return data for every query', { timeout: 120_000 }, async () => {
    expect(prometheus, 'the test run has no Prometheus').toBeDefined();
    const { DATABASE_URL: adminUrl, AMQP_URL: amqpUrl } = services;
    expect(adminUrl && amqpUrl, 'the test run has no PostgreSQL/RabbitMQ').toBeTruthy();
    await withClient(adminUrl ?? '', (c) => c.query(`CREATE DATABASE ${database}`));
    const databaseUrl = new URL(adminUrl ?? '');
    databaseUrl.pathname = `/${database}`;

    // The MES as deployed with reliable messaging: a publisher, the outbox relay and the
    // consumer of its CRM inbox, in one process under the bootstrap.
    const metricsPort = await freePort();
    const started = spawnInstrumentedMes({
      DATABASE_URL: databaseUrl.toString(),
      AMQP_URL: amqpUrl ?? '',
      MES_MESSAGING: 'reliable',
      MES_EXCHANGE: exchange,
      MES_QUEUE: queue,
      MES_MODEL_DIR: modelDir,
      MES_LOG_LEVEL: 'silent',
      MESKIT_METRICS_PORT: String(metricsPort),
      OTEL_TRACES_SAMPLER: 'always_off',
    });
    mes = started.child;
    const mesUrl = await started.listening;
    prometheus?.setScrapeJob({ job, targets: [`127.0.0.1:${metricsPort}`] });
    const exposition = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const counted = async (name: string, labels: Record<string, string>) =>
      sampleSum(await exposition(), name, labels);
    await waitFor(
      'the MES consumes its CRM inbox',
      async () => (await counted('meskit_mq_consumer_up', { queue })) === 1,
      POLL,
    );

    // Two approved orders to take, and one priced order for the CRM to approve.
    pool = new pg.Pool({ connectionString: databaseUrl.toString(), max: 2 });
    const inserted = await pool.query<{ id: string }>(
      `INSERT INTO orders (external_id, source, status, model_ref)
       SELECT 'dash-mq-' || i, 'b2c', s, 'test/model.stl'
       FROM unnest($1::text[]) WITH ORDINALITY AS t(s, i)
       RETURNING id`,
      [['MANUFACTURING_APPROVED', 'MANUFACTURING_APPROVED', 'PRICE_CALCULATED']],
    );
    const [takenFirst, takenLater, priced] = inserted.rows.map((row) => Number(row.id)) as [
      number,
      number,
      number,
    ];
    const take = async (id: number) => {
      const response = await fetch(`${mesUrl}/api/orders/${id}/take`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ operatorId: 1 }),
      });
      expect(response.status).toBe(200);
      await response.arrayBuffer();
    };

    // A take's event while no queue is bound to its routing key (the CRM's queue missing): the
    // broker returns it, the relay keeps the row and retries it after 1 s.
    await take(takenFirst);
    await waitFor(
      'the outbox relay fails to publish the unroutable event',
      async () => (await counted('meskit_mq_outbox_relayed_total', { outcome: 'failed' })) >= 1,
      POLL,
    );
    // The CRM's queue appears: the retried row and the next take's event are confirmed.
    broker = await amqp.connect(amqpUrl ?? '');
    const channel = await broker.createConfirmChannel();
    const crm = await channel.assertQueue('', { exclusive: true });
    await channel.bindQueue(crm.queue, exchange, 'order.#');
    await take(takenLater);

    // The CRM's messages to the MES: an approval (acked), the same message again (the inbox
    // skips it), an approval of an order that does not exist (ORDER_NOT_FOUND: dead-lettered
    // at once) and a body that is not JSON (dead-lettered).
    const publish = async (body: string, messageId: string) => {
      channel.publish(exchange, 'order.manufacturing_approved', Buffer.from(body), {
        messageId,
        contentType: 'application/json',
        persistent: true,
      });
      await channel.waitForConfirms();
    };
    const approval = JSON.stringify({ orderId: priced });
    await publish(approval, `dash-mq-approval-${run}`);
    await waitFor(
      'the approval is acked',
      async () => (await counted('meskit_mq_consumed_total', { queue, outcome: 'acked' })) >= 1,
      POLL,
    );
    await publish(approval, `dash-mq-approval-${run}`);
    await publish(JSON.stringify({ orderId: 999_999 }), `dash-mq-unknown-${run}`);
    await publish('not json', `dash-mq-malformed-${run}`);
    await waitFor(
      'the duplicate is skipped, two messages are dead-lettered and both takes are relayed',
      async () => {
        const text = await exposition();
        const sum = (name: string, labels: Record<string, string>) => sampleSum(text, name, labels);
        return (
          sum('meskit_mq_consumed_total', { queue, outcome: 'duplicate' }) >= 1 &&
          sum('meskit_mq_consumed_total', { queue, outcome: 'dead_lettered' }) >= 2 &&
          sum('meskit_mq_outbox_relayed_total', { outcome: 'sent' }) >= 2
        );
      },
      POLL,
    );
    const status = await pool.query<{ status: string }>('SELECT status FROM orders WHERE id = $1', [
      priced,
    ]);
    expect(status.rows[0]?.status).toBe('MANUFACTURING_APPROVED');

    await queryUntil(
      `count_over_time(meskit_mq_consumed_total{job="${job}", outcome="dead_lettered"}[1m]) >= 2`,
    );
    const queries = collectQueries().filter(isMqQuery);
    // The dashboard's variables and panels, and the five alerts.
    expect(queries.length).toBeGreaterThan(20);
    expect(queries.filter((query) => query.kind === 'alert')).toHaveLength(5);
    // The handler keeps running: approvals of an order that does not exist, each dead-lettered.
    let unknown = 0;
    const approvals = () =>
      publish(JSON.stringify({ orderId: 999_999 }), `dash-mq-unknown-${run}-${++unknown}`);
    expect(await evaluateUntilData(queries, job, approvals)).toEqual([]);

    expect(
      undocumentedFamilies(await exposition()),
      'the reliable MES exposes families not in docs/metrics.md with that type',
    ).toEqual([]);
  });
});

describe('database routing dashboard and rule queries on a scraped MES with a replica', () => {
  const job = `dashboards-db-${process.pid}`;
  const prometheus = attachServices(services.MESKIT_SERVICES_DIR).prometheus;
  // A database of our own (test files run in parallel against the same servers); created on the
  // primary, it appears on the streaming replica under the same name once replayed.
  const run = `${process.pid}_${randomBytes(4).toString('hex')}`;
  const database = `dashboards_db_${run}`;
  const modelDir = mkdtempSync(join(tmpdir(), 'meskit-dashboards-db-'));
  let mes: ChildProcess | undefined;
  let pool: pg.Pool | undefined;

  afterAll(async () => {
    prometheus?.setScrapeJob({ job, targets: [] });
    if (mes) await stop(mes);
    await pool?.end();
    if (services.DATABASE_URL) {
      await withClient(services.DATABASE_URL, (c) =>
        c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`),
      );
    }
    rmSync(modelDir, { recursive: true, force: true });
  });

  it('return data for every query', { timeout: 120_000 }, async () => {
    expect(prometheus, 'the test run has no Prometheus').toBeDefined();
    const { DATABASE_URL: adminUrl, DATABASE_REPLICA_URL: replicaAdminUrl } = services;
    expect(adminUrl && replicaAdminUrl, 'the test run has no PostgreSQL replica').toBeTruthy();
    await withClient(adminUrl ?? '', (c) => c.query(`CREATE DATABASE ${database}`));
    const databaseUrl = new URL(adminUrl ?? '');
    databaseUrl.pathname = `/${database}`;
    const replicaUrl = new URL(replicaAdminUrl ?? '');
    replicaUrl.pathname = `/${database}`;
    await waitFor(
      'the replica replays the new database',
      () => withClient(replicaUrl.toString(), async () => true).catch(() => false),
      POLL,
    );

    // The MES as deployed with a replica: reads routed to it, writes to the primary, each
    // request a read-your-writes context.
    const metricsPort = await freePort();
    const started = spawnInstrumentedMes({
      DATABASE_URL: databaseUrl.toString(),
      DATABASE_REPLICA_URL: replicaUrl.toString(),
      MES_MODEL_DIR: modelDir,
      MES_LOG_LEVEL: 'silent',
      MESKIT_METRICS_PORT: String(metricsPort),
      OTEL_TRACES_SAMPLER: 'always_off',
    });
    mes = started.child;
    const mesUrl = await started.listening;
    prometheus?.setScrapeJob({ job, targets: [`127.0.0.1:${metricsPort}`] });
    const exposition = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();

    // Two approved orders, written on the primary: the list reads them from the replica once
    // it has replayed them.
    pool = new pg.Pool({ connectionString: databaseUrl.toString(), max: 2 });
    const inserted = await pool.query<{ id: string }>(
      `INSERT INTO orders (external_id, source, status, model_ref)
       SELECT 'dash-db-' || i, 'b2c', s, 'test/model.stl'
       FROM unnest($1::text[]) WITH ORDINALITY AS t(s, i)
       RETURNING id`,
      [['MANUFACTURING_APPROVED', 'MANUFACTURING_APPROVED']],
    );
    const [taken] = inserted.rows.map((row) => Number(row.id)) as [number];
    const list = async (headers: Record<string, string> = {}) => {
      const page = await fetch(`${mesUrl}${FIRST_PAGE}`, { headers });
      expect(page.status).toBe(200);
      return (await page.json()) as unknown;
    };
    await waitFor(
      'the list is read from the replica',
      async () => {
        // The replica may not have replayed the MES's schema yet: then the read fails; retry.
        const page = await fetch(`${mesUrl}${FIRST_PAGE}`);
        await page.arrayBuffer();
        return (
          page.status === 200 &&
          sampleSum(await exposition(), 'meskit_db_queries_total', { target: 'replica' }) >= 3
        );
      },
      POLL,
    );

    // A take (a write on the primary), then a read with the position it handed back.
    const response = await fetch(`${mesUrl}/api/orders/${taken}/take`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ operatorId: 1 }),
    });
    expect(response.status).toBe(200);
    await response.arrayBuffer();
    const token = response.headers.get('x-meskit-lsn');
    expect(token, 'the take hands back its position').toBeTruthy();
    await list({ 'x-meskit-lsn': token ?? '' });
    await waitFor(
      'a read-your-writes read and a write are counted',
      async () => {
        const text = await exposition();
        return (
          sampleSum(text, 'meskit_db_read_your_writes_total', {}) >= 1 &&
          sampleSum(text, 'meskit_db_queries_total', { target: 'primary' }) >= 1
        );
      },
      POLL,
    );

    await queryUntil(`count_over_time(meskit_db_read_your_writes_total{job="${job}"}[1m]) >= 2`);
    const queries = collectQueries().filter(isDbQuery);
    // The dashboard's variables and panels, and the three alerts.
    expect(queries.length).toBeGreaterThan(12);
    expect(queries.filter((query) => query.kind === 'alert')).toHaveLength(3);
    expect(await evaluateUntilData(queries, job, () => list())).toEqual([]);

    expect(
      undocumentedFamilies(await exposition()),
      'the MES on db-router exposes families not in docs/metrics.md with that type',
    ).toEqual([]);
  });
});

/** The sum of the samples of `name` whose labels include `labels`, in a Prometheus exposition. */
function sampleSum(exposition: string, name: string, labels: Record<string, string>): number {
  let sum = 0;
  for (const line of exposition.split('\n')) {
    const sample = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (sample?.[1] !== name) continue;
    const has = new Map(
      [...(sample[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]),
    );
    if (Object.entries(labels).every(([label, value]) => has.get(label) === value)) {
      sum += Number(sample[3]);
    }
  }
  return sum;
}

const FIRST_PAGE = '/api/orders?status=MANUFACTURING_APPROVED&page=1&pageSize=20';

/**
 * `meskit cache-proxy` as deployed in front of the MES: under @meskit/otel-bootstrap, which
 * serves its metrics on MESKIT_METRICS_PORT (the proxy serves none itself), with an admin
 * endpoint, on free ports. Settings come from the flags only: the test run's REDIS_URL and
 * AMQP_URL, which the sidecar would fall back to, are removed from its environment.
 */
async function spawnCacheProxy(
  upstream: string,
  adminToken: string,
  flags: string[],
): Promise<{
  child: ChildProcess;
  listening: Promise<string>;
  metricsPort: number;
  adminPort: number;
}> {
  const metricsPort = await freePort();
  const adminPort = await freePort();
  const started = spawnListening(
    'the cache proxy',
    [
      '--import',
      '@meskit/otel-bootstrap/register',
      join(REPO_ROOT, 'packages', 'cli', 'bin', 'meskit.js'),
      'cache-proxy',
      '--upstream',
      upstream,
      '--port',
      '0',
      '--admin-port',
      String(adminPort),
      ...flags,
    ],
    {
      MESKIT_METRICS_PORT: String(metricsPort),
      MESKIT_CACHE_ADMIN_TOKEN: adminToken,
      OTEL_TRACES_SAMPLER: 'always_off',
      REDIS_URL: undefined,
      AMQP_URL: undefined,
    },
  );
  return { ...started, metricsPort, adminPort };
}

/**
 * Series appear as Prometheus and VictoriaMetrics scrape them (every second, from the same
 * target files); on a loaded machine some need a few more scrapes. Re-evaluates on each until
 * every query has data for the job, and returns what is still missing after 30 s, prefixed with
 * the backend's name.
 *
 * `traffic`, when given, runs every 250 ms meanwhile: counters that keep moving across scrapes.
 * VictoriaMetrics drops the NaN a histogram_quantile() or a ratio of zero rates gives (where
 * Prometheus keeps it as a value), so a panel over a burst that ended before the first scrape
 * shows no data there.
 */
async function evaluateUntilData(
  queries: readonly ShippedQuery[],
  job: string,
  traffic?: () => Promise<unknown>,
): Promise<string[]> {
  expect(victoriaMetricsUrl, 'the test run has no VictoriaMetrics').not.toBe('');
  const backends = { Prometheus: prometheusUrl, VictoriaMetrics: victoriaMetricsUrl };
  let done = false;
  const flowing = (async () => {
    while (traffic && !done) {
      await traffic();
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  })();
  try {
    const missing = await Promise.all(
      Object.entries(backends).map(async ([backend, url]) => {
        let report = await evaluateAll(url, { requireData: true, job, queries });
        for (let attempt = 0; report.problems.length > 0 && attempt < 30; attempt++) {
          await new Promise((resolve) => setTimeout(resolve, 1_000));
          report = await evaluateAll(url, { requireData: true, job, queries });
        }
        return report.problems.map((problem) => `${backend}: ${problem}`);
      }),
    );
    return missing.flat();
  } finally {
    done = true;
    await flowing;
  }
}

/** Metric families in a Prometheus exposition that docs/metrics.md lacks (or types otherwise). */
function undocumentedFamilies(exposition: string): string[] {
  const exposed = [...exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => ({
    name: m[1] as string,
    type: m[2] as string,
  }));
  expect(exposed.length).toBeGreaterThan(10);
  const documented = new Map(loadMetricsDoc().map((metric) => [metric.name, metric.type]));
  return exposed
    .filter(({ name, type }) => documented.get(name) !== type)
    .map(({ name, type }) => `${name} (${type})`);
}

/**
 * `meskit pricing serve` as deployed beside an MES: under @meskit/otel-bootstrap (Node.js
 * runtime metrics in the registry its /metrics serves), on a free port, one worker thread.
 */
function spawnPricingSidecar(redisUrl: string): {
  child: ChildProcess;
  listening: Promise<string>;
} {
  return spawnListening(
    'the pricing sidecar',
    [
      '--import',
      '@meskit/otel-bootstrap/register',
      join(REPO_ROOT, 'packages', 'cli', 'bin', 'meskit.js'),
      'pricing',
      'serve',
      '--port',
      '0',
      '--threads',
      '1',
      '--redis-url',
      redisUrl,
    ],
    // The sidecar serves /metrics itself; otel-bootstrap's own metrics port is not needed. No
    // collector here: record metrics, sample no traces.
    { MESKIT_METRICS_PORT: 'off', OTEL_TRACES_SAMPLER: 'always_off' },
  );
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

function spawnInstrumentedMes(env: Record<string, string>): {
  child: ChildProcess;
  listening: Promise<string>;
} {
  return spawnListening(
    'the reference MES',
    [
      '--import',
      '@meskit/otel-bootstrap/register',
      join(REPO_ROOT, 'examples', 'reference-mes', 'dist', 'main.js'),
    ],
    { MES_PORT: '0', ...env },
  );
}

/** Spawns a Node process that prints `{"event":"listening","url":...}` on stdout once ready. */
function spawnListening(
  what: string,
  args: string[],
  // undefined removes a variable of this process from the child's environment.
  env: Record<string, string | undefined>,
): { child: ChildProcess; listening: Promise<string> } {
  const childEnv = { ...process.env, ...env };
  for (const [name, value] of Object.entries(childEnv)) {
    if (value === undefined) delete childEnv[name];
  }
  const child = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stderr: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (line) => stderr.push(line));
  const listening = new Promise<string>((resolve, reject) => {
    child.once('exit', (code) =>
      reject(new Error(`${what} exited (${String(code)}) before listening:\n${stderr.join('\n')}`)),
    );
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const event = JSON.parse(line) as { event?: string; url?: string };
        if (event.event === 'listening' && event.url) resolve(event.url);
      } catch {
        // Not one of its JSON lines.
      }
    });
  });
  return { child, listening };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Polls an instant query until it returns a series. Prometheus scrapes on its own schedule
 * (every second in the test run) and offers nothing to wait on, so this polls.
 */
async function queryUntil(query: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const response = await fetch(
      `${prometheusUrl}/api/v1/query?query=${encodeURIComponent(query)}`,
    );
    last = await response.text();
    const body = JSON.parse(last) as { data?: { result?: unknown[] } };
    if ((body.data?.result?.length ?? 0) > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(
    `Prometheus returned no series for ${query} within ${timeoutMs} ms (last answer: ${last})`,
  );
}
