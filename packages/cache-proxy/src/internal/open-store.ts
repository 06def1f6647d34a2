// The index store the options ask for: in memory, on a Redis client passed in (the caller's),
// or on one created from a URL (the proxy's: it closes it).
import { Redis, type Cluster } from 'ioredis';
import type { Resolved } from '../options.js';
import { memoryStore } from './memory-store.js';
import { redisStore } from './redis-store.js';
import type { IndexStore } from './store.js';

/** Resolves once `client` is ready, or after `timeoutMs` (Redis down: the proxy starts anyway). */
function connected(client: Redis | Cluster, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      client.off('ready', done);
      client.off('end', done);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    timer.unref();
    client.once('ready', done);
    client.once('end', done);
  });
}

export async function openStore(
  o: Resolved,
  redisOption: Redis | Cluster | string | undefined,
  /** The memory store's clock (a test moves it by hand). */
  now: () => number,
): Promise<IndexStore> {
  const limits = {
    ttlMs: o.ttlMs,
    tombstoneTtlMs: o.tombstoneTtlMs,
    staleIfErrorMs: o.staleIfErrorMs,
    fillDepth: o.fillDepth,
    maxDepth: o.maxDepth,
  };
  if (redisOption === undefined) return memoryStore({ limits, now });
  const owned = typeof redisOption === 'string';
  const client = owned
    ? new Redis(redisOption, {
        connectionName: 'meskit-cache-proxy',
        // Fail fast while disconnected: a request goes to the MES instead of waiting.
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        commandTimeout: o.redisTimeoutMs,
      })
    : redisOption;
  // Failures surface through the commands (counted, warned once); without a listener ioredis
  // prints every reconnect failure. A client passed in is the caller's: its listeners too.
  if (owned) {
    client.on('error', () => undefined);
    // Commands fail fast while disconnected (no offline queue): give the connection a
    // bounded head start so the first requests are not forwarded for nothing.
    await connected(client, Math.max(1000, o.redisTimeoutMs));
  }
  return redisStore({
    client,
    owned,
    keyPrefix: o.keyPrefix,
    limits,
    timeoutMs: o.redisTimeoutMs,
  });
}
