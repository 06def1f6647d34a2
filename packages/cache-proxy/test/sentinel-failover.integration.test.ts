// Redis behind Sentinel fails over under load: two proxies share the index on the group's
// master (a `redis+sentinel://` URL), readers race takes through both, and the master is
// SIGKILLed until the Sentinels promote the replica. No read that began after a take's 2xx
// lists the order, clients see only 200s (reads forwarded while the store is away) and
// 200/409 takes, and both proxies answer from the index again on the new master. A Sentinel
// group of the file's own: the suite's shared Redis must not fail over under other files.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisSentinel, type RedisSentinelGroup } from '@meskit/services';
import { createCacheProxy, type CacheProxy } from '../dist/index.js';
import { readsRacingTakes } from './concurrency-scenario.js';
import {
  consumerConnected,
  eventOptions,
  get,
  ids,
  post,
  useMes,
  useWarnings,
  waitFor,
  type TestMes,
} from './helpers.js';

// A failover under load: the election, reconnects and refills take seconds, more on a
// loaded machine (the waits inside allow 60 s for the recovery alone).
const CHAOS_TIMEOUT_MS = 180_000;
// On the loaded CI machine (a full npm test beside them) one proxy's client once stayed
// unable to write ("Stream isn't writeable") for over a minute after the failover, while the
// other proxy, configured the same, recovered. Two causes are fixed in the kernel's openRedis
// (a handshake bounded by the 250 ms request budget; a '+switch-master' cutting a reconnect's
// Sentinel lookup short, which ended the ioredis client for good: see its
// open-redis*.integration.test.ts), and the proxy's writer is opened the same way.
const PAGE = '/api/orders?status=MANUFACTURING_APPROVED&page=1&pageSize=20';
const dir = mkdtempSync(join(tmpdir(), 'meskit-sentinel-'));

let mes: TestMes;
let group: RedisSentinelGroup;
const proxies: CacheProxy[] = [];
const unreplicatedWarnings = useWarnings('MESKIT_CACHE_REDIS_UNREPLICATED');
const storeWarnings = useWarnings('MESKIT_CACHE_REDIS_UNAVAILABLE');
useMes({ orders: 1000, approvedShare: 0.5, amqp: true }, (started) => (mes = started));

beforeAll(async () => {
  group = await startRedisSentinel({ dir });
  // One index (one key prefix) and one event queue, shared by both proxies as in production.
  const shared = eventOptions(mes);
  for (let i = 0; i < 2; i++) {
    const proxy = await createCacheProxy({
      upstream: mes.url,
      port: 0,
      redis: group.url,
      ...shared,
      ttlMs: 300, // fills keep racing the takes, also across the failover
      eventRetryDelayMs: 50,
      // Well above the group's failover time (down-after 1 s, then the election, a few
      // seconds in all): a take whose removal could not land waits for the new master.
      invalidationWaitMs: 30_000,
      registry: new Registry(),
    });
    proxies.push(proxy);
    await consumerConnected(proxy);
  }
});

/**
 * What a timed-out wait reports: where the Sentinels say the master is, each data node's role,
 * the proxies' stats and what they warned about.
 */
async function state(of: readonly CacheProxy[] = proxies): Promise<string> {
  const roles = await Promise.all(
    group.servers.map(async (server) => {
      if (!server.isRunning()) return `${server.port} down`;
      const client = new Redis({ port: server.port, maxRetriesPerRequest: 0, lazyConnect: true });
      client.on('error', () => undefined);
      try {
        const info = await client.info('replication');
        return `${server.port} ${/role:(\w+)/.exec(info)?.[1]} ${/master_link_status:(\w+)/.exec(info)?.[1] ?? ''}`;
      } catch (error) {
        return `${server.port} ${(error as Error).message}`;
      } finally {
        client.disconnect();
      }
    }),
  );
  const master = await group.master().catch(() => undefined);
  return JSON.stringify({
    sentinelsSay: master?.port,
    servers: roles,
    proxies: of.map((p) => p.stats()),
    warnings: storeWarnings.map((w) => w.message),
  });
}

afterAll(async () => {
  for (const proxy of proxies) await proxy.close();
  await group?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('Redis Sentinel fails over while reads race takes through two proxies', () => {
  it(
    'nothing taken is listed again, clients see no error, and the index answers again',
    async () => {
      const hitsOf = () => proxies.map((p) => p.stats().requests.hit);
      let promotedPort = 0;
      let killedPort = 0;
      await readsRacingTakes(mes, proxies, {
        storeFailures: true,
        chaos: async ({ acked }) => {
          await waitFor(
            'both proxies answer from the index and takes are acknowledged',
            () => hitsOf().every((hits) => hits >= 50) && acked() >= 10,
            { hint: () => state() },
          );
          const { killed, promoted } = await group.killMaster();
          killedPort = killed.port;
          promotedPort = promoted.port;
          const errorsAfter = proxies.map((p) => p.stats().redisErrors);
          // The old master comes back and the Sentinels make it the new master's replica.
          await killed.start();
          await group.waitForHealthy();
          const hitsAtPromotion = hitsOf();
          const ackedAtPromotion = acked();
          await waitFor(
            'both proxies answer from the new master, and takes go on',
            () => {
              const hits = hitsOf();
              return (
                hits.every((h, i) => h >= hitsAtPromotion[i]! + 50) &&
                acked() >= ackedAtPromotion + 10
              );
            },
            // Eight readers and three takers on two cores, beside the Sentinels' own election.
            { timeoutMs: 60_000, hint: () => state() },
          );
          // The failover was seen: the store failed under the proxies at least once.
          expect(errorsAfter.some((errors) => errors > 0)).toBe(true);
        },
      });
      expect(promotedPort).not.toBe(killedPort);
      // Every removal landed; none was dropped.
      for (const proxy of proxies) {
        expect(proxy.stats().pendingInvalidations).toBe(0);
        expect(proxy.stats().droppedInvalidations).toBe(0);
      }
    },
    CHAOS_TIMEOUT_MS,
  );

  it(
    'a take through one proxy while the master is down answers once the removal landed, so the other proxy never lists it',
    async () => {
      // Without events: the removal through the proxy is the only one there is. A long TTL:
      // the other proxy serves the index the new master got from the old one.
      const prefix = `${eventOptions(mes).keyPrefix}hold:`;
      const options = {
        upstream: mes.url,
        port: 0,
        redis: group.url,
        keyPrefix: prefix,
        ttlMs: 60_000,
        reconcileIntervalMs: 0,
        registry: new Registry(),
      };
      const taker = await createCacheProxy({ ...options, invalidationWaitMs: 30_000 });
      const reader = await createCacheProxy({ ...options, registry: new Registry() });
      try {
        const [victim] = ids(await get(reader.url, PAGE));
        await waitFor(
          'both proxies answer from the index',
          async () => {
            const answers = [await get(reader.url, PAGE), await get(taker.url, PAGE)];
            return answers.every((a) => a.headers.get('cache-status') === 'meskit; hit');
          },
          { hint: () => state([taker, reader]) },
        );
        // The index is on the replica too before the master dies.
        await group.waitForReplicated();
        const master = await group.masterServer();
        await master.kill();
        const taken = await post(taker.url, `/api/orders/${victim}/take`, { operatorId: 2 });
        expect(taken.status).toBe(200);
        // The removal landed on the new master before the answer: it is not pending.
        expect(taker.stats().pendingInvalidations).toBe(0);
        const hitsBefore = reader.stats().requests.hit;
        const listedAfterTake: number[] = [];
        await waitFor(
          'the other proxy answers from the new master',
          async () => {
            const answer = await get(reader.url, PAGE);
            if (ids(answer).includes(victim!)) listedAfterTake.push(victim!);
            return reader.stats().requests.hit >= hitsBefore + 20;
          },
          { hint: () => state([taker, reader]) },
        );
        expect(listedAfterTake).toEqual([]);
        await master.start();
        await group.waitForHealthy();
      } finally {
        await taker.close();
        await reader.close();
      }
    },
    CHAOS_TIMEOUT_MS,
  );

  it(
    'a write no replica acknowledges still counts, and is counted as unreplicated',
    async () => {
      const [proxy] = proxies;
      // After the failovers before, this proxy writes to the master again, with a replica.
      await waitFor(
        'the proxy answers from the index, nothing pending',
        async () => {
          const answer = await get(proxy!.url, PAGE);
          return (
            answer.headers.get('cache-status') === 'meskit; hit' &&
            proxy!.stats().pendingInvalidations === 0
          );
        },
        { hint: () => state() },
      );
      const master = await group.masterServer();
      for (const replica of group.servers.filter((s) => s !== master)) await replica.kill();
      const before = proxy!.stats().unreplicatedWrites;
      const page = await get(proxy!.url, PAGE);
      const [victim] = ids(page);
      const taken = await post(proxy!.url, `/api/orders/${victim}/take`, { operatorId: 1 });
      expect(taken.status).toBe(200);
      expect(
        proxy!.stats().unreplicatedWrites,
        JSON.stringify({ stats: proxy!.stats(), store: storeWarnings.map((w) => w.message) }),
      ).toBeGreaterThan(before);
      const after = await get(proxy!.url, PAGE);
      expect(ids(after)).not.toContain(victim);
      // Said (once per proxy; the failovers before left each without a replica for a while).
      expect(unreplicatedWarnings.length).toBeGreaterThanOrEqual(1);
    },
    CHAOS_TIMEOUT_MS,
  );
});
