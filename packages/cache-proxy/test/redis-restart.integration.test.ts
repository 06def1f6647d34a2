// Redis killed (SIGKILL) in the middle of reads racing takes, then started again, empty: no
// client sees an error, no read that started after a take was acknowledged lists the order,
// and once Redis is back the index refills and pages equal the MES's again. A Redis of its own
// (the suite's shared one must not die under other test files).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type RedisServer } from '@meskit/services';
import { createCacheProxy, type CacheProxy } from '../dist/index.js';
import { get, ids, post, useMes, useWarnings, waitFor, type TestMes } from './helpers.js';

const PAGE = '/api/orders?status=MANUFACTURING_APPROVED&page=1&pageSize=20';
const dir = mkdtempSync(join(tmpdir(), 'meskit-redis-restart-'));

let mes: TestMes;
let redis: RedisServer;
let proxy: CacheProxy;
const redisWarnings = useWarnings('MESKIT_CACHE_REDIS_UNAVAILABLE');
useMes({ orders: 600, approvedShare: 0.5 }, (started) => (mes = started));

beforeAll(async () => {
  redis = await startRedis({ dir });
  proxy = await createCacheProxy({
    upstream: mes.url,
    port: 0,
    redis: redis.url,
    ttlMs: 400, // fills keep happening, also across the crash
    registry: new Registry(),
  });
});

afterAll(async () => {
  await proxy?.close();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('Redis crashes and comes back during reads and takes', () => {
  it('clients see no error, nothing stale, and the cache refills', async () => {
    const reads: { started: number; ids: number[]; cacheStatus: string }[] = [];
    const acked = new Map<number, number>();
    let recent = ids(await get(mes.url, PAGE));
    let running = true;

    async function reader(): Promise<void> {
      while (running) {
        const started = performance.now();
        const answer = await get(proxy.url, PAGE);
        expect(answer.status).toBe(200);
        const listed = ids(answer);
        reads.push({ started, ids: listed, cacheStatus: answer.headers.get('cache-status') ?? '' });
        if (listed.length > 0) recent = listed;
      }
    }

    async function taker(): Promise<void> {
      while (running) {
        const victim = recent[Math.floor(Math.random() * recent.length)];
        if (victim !== undefined) {
          const answer = await post(proxy.url, `/api/orders/${victim}/take`, { operatorId: 1 });
          if (answer.status === 200) acked.set(victim, performance.now());
          else expect(answer.status).toBe(409);
        }
        await new Promise((resolve) => setTimeout(resolve, 10 + Math.random() * 20));
      }
    }

    // Each step waits for what the step before it must have caused, not for a guessed time.
    async function chaos(): Promise<void> {
      try {
        await waitFor('reads are answered from the index and takes acknowledged', () => {
          return proxy.stats().requests.hit >= 50 && acked.size >= 3;
        });
        const errorsBefore = proxy.stats().redisErrors;
        await redis.kill();
        await waitFor('the proxy has seen Redis fail', () => {
          return proxy.stats().redisErrors > errorsBefore;
        });
        const readsWhileDown = reads.length;
        await waitFor('reads go on while Redis is down', () => reads.length >= readsWhileDown + 20);
        await redis.start();
        // Go on until the refilled index answers again (pending removals land first).
        const hitsAtRestart = proxy.stats().requests.hit;
        await waitFor('the refilled index answers again', () => {
          return proxy.stats().requests.hit >= hitsAtRestart + 50;
        });
        const readsAfter = reads.length;
        await waitFor('more reads after the refill, and enough takes acknowledged', () => {
          return reads.length >= readsAfter + 20 && acked.size > 10;
        });
      } finally {
        running = false;
      }
    }

    await Promise.all([reader(), reader(), reader(), reader(), taker(), taker(), chaos()]);

    const violations = reads.flatMap((read) =>
      read.ids.filter((id) => {
        const ack = acked.get(id);
        return ack !== undefined && read.started > ack;
      }),
    );
    expect(acked.size).toBeGreaterThan(10);
    expect(violations).toEqual([]);
    // Served from the index before the crash, forwarded while Redis was gone, from the
    // refilled index after it returned.
    const kinds = reads.map((read) => read.cacheStatus);
    // Forwarded while Redis was gone: because a read failed on it, or because a take's
    // removal failed on it and waits for Redis (reads of that list go to the MES meanwhile).
    const forwarded = kinds.map((s) => /detail=(redis-error|invalidation-pending)/.test(s));
    expect(forwarded.some(Boolean)).toBe(true);
    expect(kinds.slice(forwarded.lastIndexOf(true) + 1).some((s) => s.endsWith('; hit'))).toBe(
      true,
    );
    expect(proxy.stats().redisErrors).toBeGreaterThan(0);
    expect(redisWarnings).toHaveLength(1);
    await waitFor('the proxy lists what the MES lists', async () => {
      const [via, direct] = [await get(proxy.url, PAGE), await get(mes.url, PAGE)];
      return via.text === direct.text;
    });
  });
});
