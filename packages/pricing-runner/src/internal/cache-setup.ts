// The result cache a runner's options ask for: in memory, on a Redis client passed in, or on
// one the runner creates from a URL (and so closes).
import { createWarnOnce, openRedis, warnOnTlsFailure } from '@meskit/kernel';
import { memoryCache, redisCache, type CacheBackend } from './cache.js';
import { METRIC_NAMES } from './metrics.js';
import type { ResolvedCacheOptions } from './runner-options.js';

const WARNING_CODE = 'MESKIT_PRICING_CACHE_UNAVAILABLE';
const TLS_WARNING_CODE = 'MESKIT_PRICING_CACHE_TLS';

export type CacheErrorHandler = (operation: 'get' | 'set', error: Error) => void;

/**
 * What a runner does with a failed cache operation: `count` it, and warn once (per runner)
 * that quotes go on without the cache.
 */
export function cacheErrorReporter(count: (operation: 'get' | 'set') => void): CacheErrorHandler {
  const warnOnce = createWarnOnce();
  return (operation, error) => {
    count(operation);
    warnOnce(
      WARNING_CODE,
      `pricing cache: Redis ${operation.toUpperCase()} failed (${error.message}); quotes are computed without the cache while Redis is unavailable. Check cache.redis, or leave it out to cache in memory. Further cache errors are counted in ${METRIC_NAMES.cacheErrors} without warning.`,
    );
  };
}

export function createCacheBackend(
  c: ResolvedCacheOptions,
  onError: CacheErrorHandler,
): CacheBackend {
  if (c.redis === undefined)
    return memoryCache({
      maxEntries: c.maxEntries,
      maxBytes: c.maxBytes,
      ttlMs: c.ttlMs,
      now: c.now,
    });
  if (typeof c.redis !== 'string')
    return redisCache({
      client: c.redis,
      owned: false,
      ttlMs: c.ttlMs,
      timeoutMs: c.redisTimeoutMs,
      onError,
    });
  // The URL was read with the options (rediss:// with its TLS parameters, Sentinel, Cluster).
  const target = c.redisTarget!;
  const client = openRedis(target, {
    connectionName: 'meskit-pricing-runner',
    // Commands sent while (re)connecting wait in the offline queue, bounded by
    // redisTimeoutMs; one retry, not twenty, when a connection drops under them.
    enableOfflineQueue: true,
    maxRetriesPerRequest: 1,
  });
  // Failures surface through the commands (counted, warned once); without a listener
  // ioredis would print every reconnect failure to stderr. A client passed in is the
  // caller's: its listeners are theirs to choose.
  client.on('error', () => {});
  // The commands' failures only time out: a refused certificate is said once, with why.
  if (target.topology === 'standalone' && target.tls.enabled)
    warnOnTlsFailure(client, {
      url: c.redis,
      code: TLS_WARNING_CODE,
      what: 'pricing cache: Redis',
    });
  return redisCache({ client, owned: true, ttlMs: c.ttlMs, timeoutMs: c.redisTimeoutMs, onError });
}
