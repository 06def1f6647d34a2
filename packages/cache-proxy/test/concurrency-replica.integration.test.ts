// The same race (concurrency-scenario.ts) with the MES reading from a streaming replica that
// applies every change 150 ms late, through db-router, its events on mq-reliable's outbox:
// the MES answers each write with its position (x-meskit-lsn), its events carry theirs, and
// the proxy sends the newest it has seen with every fill and write-through. Still no read that
// started after a take's 2xx lists the order.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getRegistry } from '@meskit/kernel';
import { startPostgres, type PostgresPair } from '@meskit/services';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCacheProxy, type CacheProxy } from '../dist/index.js';
import { readsRacingTakes } from './concurrency-scenario.js';
import {
  consumerConnected,
  eventOptions,
  get,
  ids,
  useMes,
  useRedis,
  waitFor,
  type TestMes,
} from './helpers.js';

let dir: string;
let pair: PostgresPair;
let mes: TestMes;
let redis: Redis;
let proxy: CacheProxy;

// The pair first (its beforeAll runs before useMes's, its afterAll after).
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'meskit-proxy-replica-'));
  chmodSync(dir, 0o755); // PostgreSQL runs as the postgres user and must traverse this folder
  pair = await startPostgres({ dir });
  await pair.setReplicaApplyDelay(150);
}, 120_000);
afterAll(async () => {
  await pair?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});
useMes(
  {
    orders: 1000,
    approvedShare: 0.5,
    amqp: true,
    messaging: 'reliable',
    postgres: () => ({ primaryUrl: pair.primary.url, replicaUrl: pair.replica!.url }),
  },
  (started) => (mes = started),
);
useRedis((client) => (redis = client));

beforeAll(async () => {
  // The seeded orders on the replica too, before anything reads them.
  await pair.waitForReplay();
  proxy = await createCacheProxy({
    upstream: mes.url,
    port: 0,
    redis,
    ...eventOptions(mes),
    ttlMs: 300,
    eventRetryDelayMs: 50,
    registry: new Registry(),
  });
  await consumerConnected(proxy);
}, 60_000);
afterAll(async () => {
  await proxy?.close();
});

describe('reads racing takes with the MES reading a delayed replica', () => {
  it(
    'no read that started after a take was acknowledged lists the taken order',
    { timeout: 180_000 },
    async () => {
      const take = await get(
        mes.url,
        '/api/orders?status=MANUFACTURING_APPROVED&page=1&pageSize=1',
      );
      expect(take.status).toBe(200);
      await readsRacingTakes(mes, proxy);
      // The MES did read from the replica (most of its reads in this write-heavy race carry a
      // token the replica has not replayed yet, and go to the primary), and the tokens held.
      const queries = await getRegistry().getSingleMetric('meskit_db_queries_total')?.get();
      const on = (target: string) =>
        (queries?.values ?? [])
          .filter((v) => v.labels['target'] === target)
          .reduce((n, v) => n + v.value, 0);
      expect(on('replica')).toBeGreaterThan(20);
      const ryw = await getRegistry().getSingleMetric('meskit_db_read_your_writes_total')?.get();
      expect((ryw?.values ?? []).reduce((n, v) => n + v.value, 0)).toBeGreaterThan(0);
    },
  );

  it("lists an order the CRM approves before the replica has the order's creation", async () => {
    // A proxy whose index does not expire during the test: only the write-through can list it.
    const patient = await createCacheProxy({
      upstream: mes.url,
      port: 0,
      redis,
      ...eventOptions(mes),
      ttlMs: 600_000,
      reconcileIntervalMs: 0,
      registry: new Registry(),
    });
    try {
      await consumerConnected(patient);
      const list = '/api/orders?status=MANUFACTURING_APPROVED&page=1&pageSize=20';
      await get(patient.url, list); // the index is filled
      // Created on the primary and approved at once: the CRM's event carries no position, and
      // the replica (150 ms late) answers the write-through's first reads with 404.
      const [fresh] = await mes.insert([{ status: 'PRICE_CALCULATED', createdAt: new Date() }]);
      await mes.publish('order.manufacturing_approved', { orderId: fresh });
      await waitFor('the approved order tops the cached list', async () => {
        const page = await get(patient.url, list);
        return page.headers.get('cache-status') === 'meskit; hit' && ids(page)[0] === fresh;
      });
      expect(patient.stats().writes).toBe(1);
    } finally {
      await patient.close();
    }
  });
});
