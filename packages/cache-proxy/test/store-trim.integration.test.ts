// The depth bound of an index: write-through adds past maxDepth drop the oldest entries (and
// their documents), the newest stay, on both stores.
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { memoryStore } from '../dist/internal/memory-store.js';
import { redisStore } from '../dist/internal/redis-store.js';
import { memberOf, type IndexStore } from '../dist/internal/store.js';
import { serviceUrls, uniqueName } from './helpers.js';

const LIMITS = {
  ttlMs: 60_000,
  tombstoneTtlMs: 600_000,
  staleIfErrorMs: 60_000,
  fillDepth: 5,
  maxDepth: 8,
};
const S = 'MANUFACTURING_APPROVED';
const clients: Redis[] = [];
afterAll(async () => {
  await Promise.all(clients.map((client) => client.quit()));
});

function item(id: number) {
  return { member: memberOf(id), score: 1_700_000_000_000 + id, doc: `{"id":${id}}` };
}

/** A Redis store on a client of the run's Redis; `replicas` > 0: each write with WAIT. */
function onRedis(replicas: number, timeoutMs: number): () => IndexStore {
  return () => {
    const client = new Redis(serviceUrls().redisUrl);
    clients.push(client);
    return redisStore({
      client,
      owned: false,
      keyPrefix: `${uniqueName('test')}:`,
      limits: LIMITS,
      timeoutMs,
      replicas,
      onUnreplicated: () => undefined,
    });
  };
}

const stores: [string, () => IndexStore][] = [
  ['memory', () => memoryStore({ limits: LIMITS, now: Date.now })],
  ['redis', onRedis(0, 1_000)],
  // Each write as a pipeline with WAIT (the path Sentinel and Cluster take, there on a
  // connection of its own); the run's Redis has no replica, so WAIT finds none.
  ['redis, writes waiting for a replica', onRedis(1, 100)],
];

describe.each(stores)('maxDepth (%s store)', (_name, create) => {
  it('keeps the newest maxDepth orders as adds come in', async () => {
    const store = create();
    const e0 = await store.ticket(S);
    // A fill of the 5 newest of 20 orders (ids 16..20, newest first).
    const snapshot = [20, 19, 18, 17, 16].map(item);
    expect(await store.fill(S, e0, snapshot, 20)).toBe('written');
    for (let id = 21; id <= 26; id++) {
      const ticket = await store.ticket(S);
      expect(await store.add(S, item(id), ticket)).toBe('added');
    }
    expect(await store.size(S)).toBe(LIMITS.maxDepth);
    const page = await store.page(S, 0, LIMITS.maxDepth);
    expect(page.kind).toBe('hit');
    if (page.kind !== 'hit') return;
    expect(page.docs.map((doc) => (JSON.parse(doc) as { id: number }).id)).toEqual([
      26, 25, 24, 23, 22, 21, 20, 19,
    ]);
    expect(page.total).toBe(26);
    await store.close();
  });
});
