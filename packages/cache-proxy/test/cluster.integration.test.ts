// The index on a Redis Cluster of three masters (a `redis+cluster://` URL): every key a script
// touches shares its status's hash tag, so each script runs on one node. The randomized
// concurrency test passes on it as on one Redis, and again while the master serving the
// index's slot is SIGKILLed and its replica takes the slots over. A cluster of the file's own.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slotOf, startRedisCluster, type RedisCluster } from '@meskit/services';
import { createCacheProxy, type CacheProxy } from '../dist/index.js';
import { readsRacingTakes } from './concurrency-scenario.js';
import {
  consumerConnected,
  eventOptions,
  get,
  ids,
  post,
  useMes,
  waitFor,
  type TestMes,
} from './helpers.js';

// A failover under load: the election, reconnects and refills take seconds, more on a
// loaded machine (the waits inside allow 60 s for the recovery alone).
const CHAOS_TIMEOUT_MS = 180_000;
const PAGE = '/api/orders?status=MANUFACTURING_APPROVED&page=1&pageSize=20';
const dir = mkdtempSync(join(tmpdir(), 'meskit-redis-cluster-'));

let mes: TestMes;
let cluster: RedisCluster;
const proxies: CacheProxy[] = [];
let keyPrefix = '';
useMes({ orders: 1500, approvedShare: 0.5, amqp: true }, (started) => (mes = started));

beforeAll(async () => {
  cluster = await startRedisCluster({ dir });
  const shared = eventOptions(mes);
  keyPrefix = shared.keyPrefix!;
  for (let i = 0; i < 2; i++) {
    const proxy = await createCacheProxy({
      upstream: mes.url,
      port: 0,
      redis: cluster.url,
      ...shared,
      ttlMs: 300,
      eventRetryDelayMs: 50,
      invalidationWaitMs: 30_000,
      registry: new Registry(),
    });
    proxies.push(proxy);
    await consumerConnected(proxy);
  }
  // The cluster client dials each node on its first command there: before the scenario
  // counts store failures, every proxy has answered from the index once.
  await waitFor('each proxy answers from the index', async () => {
    for (const proxy of proxies) await get(proxy.url, PAGE);
    return proxies.every((proxy) => proxy.stats().requests.hit > 0);
  });
});

afterAll(async () => {
  for (const proxy of proxies) await proxy.close();
  await cluster?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the index on a 3-master Redis Cluster', () => {
  it(
    'no read that started after a take was acknowledged lists the taken order',
    async () => {
      await readsRacingTakes(mes, proxies);
    },
    CHAOS_TIMEOUT_MS,
  );

  it(
    'after a manual failover of the index slot, takes remove at once and reads hit again',
    async () => {
      // The demoted master stays up and answers the writer's write + WAIT pipeline with MOVED
      // (and WAIT with an error of its own), which ioredis does not follow in a pipeline: the
      // store must refresh the slot map itself, or every later write goes to the old node.
      const slot = slotOf(`${keyPrefix}{MANUFACTURING_APPROVED}:idx`);
      for (const proxy of proxies) await get(proxy.url, PAGE);
      const { demoted, promoted } = await cluster.failoverOf(slot);
      expect(promoted.port).not.toBe(demoted.port);
      const [first, second] = proxies as [CacheProxy, CacheProxy];
      const victim = ids(await get(first.url, PAGE))[0]!;
      const taken = await post(first.url, `/api/orders/${victim}/take`, { operatorId: 1 });
      expect(taken.status).toBe(200);
      await waitFor('the removal landed on the new master', () =>
        proxies.every((p) => p.stats().pendingInvalidations === 0),
      );
      for (const proxy of proxies) expect(ids(await get(proxy.url, PAGE))).not.toContain(victim);
      const hits = proxies.map((p) => p.stats().requests.hit);
      await waitFor('both proxies answer from the index again', async () => {
        for (const proxy of proxies) await get(proxy.url, PAGE);
        return proxies.every((p, i) => p.stats().requests.hit > hits[i]!);
      });
      expect(second.stats().pendingInvalidations).toBe(0);
    },
    CHAOS_TIMEOUT_MS,
  );

  it(
    'the same while the master of the index is SIGKILLed and its replica promoted',
    async () => {
      // Every key of the list's index is in this slot (the prefix has no braces of its own).
      expect(keyPrefix).not.toMatch(/[{}]/);
      const slot = slotOf(`${keyPrefix}{MANUFACTURING_APPROVED}:idx`);
      let killedPort = 0;
      let promotedPort = 0;
      await readsRacingTakes(mes, proxies, {
        storeFailures: true,
        chaos: async ({ acked }) => {
          const hits = () => proxies.map((p) => p.stats().requests.hit);
          const start = hits();
          await waitFor('both proxies answer from the index again', () =>
            hits().every((h, i) => h >= start[i]! + 50),
          );
          const ackedBefore = acked();
          const { killed, promoted } = await cluster.killMasterOf(slot);
          killedPort = killed.port;
          promotedPort = promoted.port;
          const atPromotion = hits();
          await waitFor(
            'both proxies answer from the promoted replica, and takes go on',
            () => hits().every((h, i) => h >= atPromotion[i]! + 50) && acked() >= ackedBefore + 10,
            // Eight readers and three takers on two cores, beside the cluster's own election.
            { timeoutMs: 60_000 },
          );
        },
      });
      expect(promotedPort).not.toBe(killedPort);
      for (const proxy of proxies) {
        expect(proxy.stats().pendingInvalidations).toBe(0);
        expect(proxy.stats().droppedInvalidations).toBe(0);
      }
    },
    CHAOS_TIMEOUT_MS,
  );
});
