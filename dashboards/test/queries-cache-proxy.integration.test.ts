// The cache-proxy dashboard and rules, checked for data (see queries.integration.test.ts): three
// cache sidecars (`meskit cache-proxy` under @meskit/otel-bootstrap) in front of a reference MES:
// one on the test Redis (misses, hits, a take, an admin invalidation), one consuming order
// events from the test RabbitMQ (write-through, an event invalidation, a poison event), one
// whose Redis is unreachable (Redis errors, bypassed reads); Prometheus scrapes the three as one
// job, and every cache-proxy query must return data for it, on Prometheus and on
// VictoriaMetrics.
// It needs otel-bootstrap, the reference MES and the CLI built (`npm test` builds first).
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createReferenceMes, type ReferenceMes } from '@meskit/reference-mes';
import { attachServices } from '@meskit/services';
import { waitFor, withClient } from '@meskit/testkit';
import amqp from 'amqplib';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from './artifacts.js';
import { collectQueries } from './queries.js';
import {
  evaluateUntilData,
  FIRST_PAGE,
  freePort,
  isCacheProxyQuery,
  POLL,
  queryUntil,
  services,
  spawnListening,
  stop,
  undocumentedFamilies,
} from './scraped.js';

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
    // An approval of an order the MES does not have: its write-through gives up after its
    // 30 s wait (meskit_cache_write_through_gave_up_total), while the rest goes on.
    await publish('order.manufacturing_approved', {
      orderId: 2_000_000_000,
      status: 'MANUFACTURING_APPROVED',
      previousStatus: 'PRICE_CALCULATED',
    });
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

    await waitFor(
      'the write-through of the unknown order gave up',
      async () => {
        const metrics = await (
          await fetch(`http://127.0.0.1:${started[1]!.metricsPort}/metrics`)
        ).text();
        return /^meskit_cache_write_through_gave_up_total\{[^}]*reason="not_found"[^}]*\} 1$/m.test(
          metrics,
        );
      },
      { timeoutMs: 45_000, intervalMs: 500 },
    );
    await queryUntil(
      `count_over_time(meskit_cache_requests_total{job="${job}", result="hit"}[1m]) >= 2`,
    );
    const queries = collectQueries().filter(isCacheProxyQuery);
    // The dashboard's variables and panels, and the seven alerts.
    expect(queries.length).toBeGreaterThan(20);
    expect(queries.filter((query) => query.kind === 'alert')).toHaveLength(7);
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
