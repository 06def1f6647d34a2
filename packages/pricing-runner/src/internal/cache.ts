// The runner's result caches: an LRU in memory (bounded by entries and bytes, with a TTL)
// or Redis (`SET PX`). Values are JSON strings. Neither ever rejects: a Redis failure is
// reported through `onError` and the caller carries on as if the entry were missing.
import { boundedRedis, quitRedis } from '@meskit/kernel';
import type { Cluster, Redis } from 'ioredis';

/**
 * Internal test hook, not part of the public API: a `cache` option under this key replaces
 * `Date.now` as the memory cache's clock, so tests can expire entries without sleeping.
 */
export const TEST_CLOCK: unique symbol = Symbol('meskit.pricing-runner.testClock');

export interface CacheBackendStats {
  /** Entries held (memory only; `null` for Redis, which expires them itself). */
  entries: number | null;
  /** Bytes of JSON held (memory only). */
  bytes: number | null;
  /** Entries dropped to stay within `maxEntries` / `maxBytes` (memory only). */
  evicted: number;
  /** Entries found past their TTL and dropped (memory only). */
  expired: number;
  /** Results not stored because one alone is larger than `maxBytes` (memory only). */
  tooLarge: number;
}

export interface CacheBackend {
  readonly kind: 'memory' | 'redis';
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string): Promise<void>;
  stats(): CacheBackendStats;
  close(): Promise<void>;
}

interface Entry {
  value: string;
  bytes: number;
  expires: number;
}

export function memoryCache(opts: {
  maxEntries: number;
  maxBytes: number;
  ttlMs: number;
  now: () => number;
}): CacheBackend {
  // A Map iterates in insertion order: re-inserting on every hit keeps the least recently
  // used entry first, which is the one evicted.
  const entries = new Map<string, Entry>();
  let bytes = 0;
  let evicted = 0;
  let expired = 0;
  let tooLarge = 0;

  function drop(key: string, entry: Entry): void {
    entries.delete(key);
    bytes -= entry.bytes;
  }

  return {
    kind: 'memory',
    get(key) {
      const entry = entries.get(key);
      if (!entry) return Promise.resolve(undefined);
      if (entry.expires <= opts.now()) {
        drop(key, entry);
        expired++;
        return Promise.resolve(undefined);
      }
      entries.delete(key);
      entries.set(key, entry);
      return Promise.resolve(entry.value);
    },
    set(key, value) {
      const size = Buffer.byteLength(value);
      const existing = entries.get(key);
      if (existing) drop(key, existing);
      if (size > opts.maxBytes) {
        tooLarge++;
        return Promise.resolve();
      }
      entries.set(key, { value, bytes: size, expires: opts.now() + opts.ttlMs });
      bytes += size;
      for (const [oldest, entry] of entries) {
        if (entries.size <= opts.maxEntries && bytes <= opts.maxBytes) break;
        drop(oldest, entry);
        evicted++;
      }
      return Promise.resolve();
    },
    stats: () => ({ entries: entries.size, bytes, evicted, expired, tooLarge }),
    close() {
      entries.clear();
      bytes = 0;
      return Promise.resolve();
    },
  };
}

export type RedisClient = Redis | Cluster;

export function redisCache(opts: {
  client: RedisClient;
  /** The runner created the client, so it closes it. */
  owned: boolean;
  ttlMs: number;
  timeoutMs: number;
  onError: (operation: 'get' | 'set', error: Error) => void;
}): CacheBackend {
  const { client } = opts;
  /** The command's answer, or a rejection once `timeoutMs` passes (the command may still land). */
  const bounded = boundedRedis(client, opts.timeoutMs);

  function fail(operation: 'get' | 'set', error: unknown): void {
    opts.onError(operation, error instanceof Error ? error : new Error(String(error)));
  }

  return {
    kind: 'redis',
    async get(key) {
      try {
        return (await bounded('GET', () => client.get(key))) ?? undefined;
      } catch (error) {
        fail('get', error);
        return undefined;
      }
    },
    async set(key, value) {
      try {
        await bounded('SET', () => client.set(key, value, 'PX', opts.ttlMs));
      } catch (error) {
        fail('set', error);
      }
    },
    stats: () => ({ entries: null, bytes: null, evicted: 0, expired: 0, tooLarge: 0 }),
    async close() {
      // quit() lets SETs already sent land; a client that is down or does not answer in time
      // is disconnected instead.
      if (opts.owned) await quitRedis(client, opts.timeoutMs);
    },
  };
}
