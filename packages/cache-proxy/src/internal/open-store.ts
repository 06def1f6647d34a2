// The index store the options ask for: in memory, on a Redis client passed in (the caller's),
// or on one created from a URL (the proxy's: it closes it).
import { openRedis, replicatedRedis, tlsFailure, warnOnTlsFailure } from '@meskit/kernel';
import type { Cluster, Redis } from 'ioredis';
import type { Resolved } from '../options.js';
import { memoryStore } from './memory-store.js';
import { redisStore } from './redis-store.js';
import type { IndexStore, StoreLimits } from './store.js';

const WARN_REDIS_TLS = 'MESKIT_CACHE_REDIS_TLS';

/**
 * Resolves once `client` is ready, or after `timeoutMs` (Redis down: the proxy starts anyway),
 * or at once when TLS verification fails (no reconnect will get past it).
 */
function connected(client: Redis | Cluster, url: string, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise<void>((resolve) => {
    const onError = (error: Error): void => {
      if (tlsFailure(error, url)) done();
    };
    const done = (): void => {
      clearTimeout(timer);
      client.off('ready', done);
      client.off('end', done);
      client.off('error', onError);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    timer.unref();
    client.once('ready', done);
    client.once('end', done);
    client.on('error', onError);
  });
}

export async function openStore(
  o: Resolved,
  redisOption: Redis | Cluster | string | undefined,
  hooks: {
    /** The memory store's clock (a test moves it by hand). */
    now: () => number;
    /** A Redis write no replica acknowledged in time. */
    onUnreplicated: () => void;
  },
): Promise<IndexStore> {
  const limits = {
    ttlMs: o.ttlMs,
    tombstoneTtlMs: o.tombstoneTtlMs,
    staleIfErrorMs: o.staleIfErrorMs,
    fillDepth: o.fillDepth,
    maxDepth: o.maxDepth,
  };
  if (redisOption === undefined) return memoryStore({ limits, now: hooks.now });
  if (typeof redisOption !== 'string')
    return storeOn(o, redisOption, false, limits, hooks.onUnreplicated);
  const url = redisOption;
  const target = o.redisTarget!;
  const open = (connectionName: string): Redis | Cluster => {
    const opened = openRedis(target, {
      connectionName,
      // Fail fast while disconnected: a request goes to the MES instead of waiting.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      // Every store command is bounded by redisTimeoutMs (boundedRedis), the handshake is not:
      // a process that stalls for longer under load must still get its connection.
    });
    // Failures surface through the commands (counted, warned once); without a listener ioredis
    // prints every reconnect failure. A client passed in is the caller's: its listeners too.
    opened.on('error', () => undefined);
    return opened;
  };
  const client = open('meskit-cache-proxy');
  // A certificate Redis will never get past is said once, with the reason: the commands'
  // own failures only say the connection is closed.
  if (target.topology === 'standalone' && target.tls.enabled)
    warnOnTlsFailure(client, {
      url: redisOption,
      code: WARN_REDIS_TLS,
      what: 'cache proxy: Redis index store',
    });
  // Commands fail fast while disconnected (no offline queue): give the connection a
  // bounded head start so the first requests are not forwarded for nothing.
  await connected(client, url, headStart(o));
  // The writer too from openRedis, with everything the kernel gives a client (the handshake's
  // bound, a connect cut short tried again, socket errors absorbed), not a duplicate() of it.
  return storeOn(o, client, true, limits, hooks.onUnreplicated, url, () =>
    open('meskit-cache-proxy-writer'),
  );
}

/** How long the first connection may take before the proxy starts anyway. */
const headStart = (o: Resolved): number => Math.max(1000, o.redisTimeoutMs);

async function storeOn(
  o: Resolved,
  client: Redis | Cluster,
  owned: boolean,
  limits: StoreLimits,
  onUnreplicated: () => void,
  url = '',
  openWriter?: () => Redis | Cluster,
): Promise<IndexStore> {
  const replicas = o.redisReplicas ?? (replicatedRedis(client) ? 1 : 0);
  // Writes that WAIT get a connection of their own (the store closes it), as connected as
  // the reader before the first request.
  let writer: Redis | Cluster | undefined;
  if (replicas > 0) {
    if (openWriter) writer = openWriter();
    else {
      // The caller's client: a copy of its options.
      writer = (client as { duplicate(): Redis | Cluster }).duplicate();
      writer.on('error', () => undefined); // surfaced by the commands, as on the reader
    }
    await connected(writer, url, headStart(o));
  }
  return redisStore({
    client,
    owned,
    keyPrefix: o.keyPrefix,
    limits,
    timeoutMs: o.redisTimeoutMs,
    replicas,
    ...(writer ? { writer } : {}),
    onUnreplicated,
  });
}
