// The runner's options: the pool's (checked under the runner's name), the result cache and
// the registry. Every option is checked here, before a worker starts or Redis is dialled, and
// a bad one throws the kernel's InvalidOptionError naming it.
import {
  getRegistry,
  optionChecks,
  redisUrlOption,
  type OptionChecks,
  type RedisTarget,
} from '@meskit/kernel';
import type { Registry } from 'prom-client';
import type { CacheOptions, PricingRunnerOptions } from '../runner.js';
import { TEST_CLOCK, type RedisClient } from './cache.js';
import { MAX_TIMER_MS } from './checks.js';
import { resolvePoolOptions, type ResolvedPoolOptions } from './pool-options.js';

export const RUNNER_DEFAULTS = {
  cache: {
    maxEntries: 1000,
    maxBytes: 64 * 1024 * 1024,
    ttlMs: 3_600_000,
    keyPrefix: 'meskit:pricing:',
    redisTimeoutMs: 250,
  },
} as const;

const COMPONENT = 'createPricingRunner';

export interface ResolvedCacheOptions {
  maxEntries: number;
  maxBytes: number;
  ttlMs: number;
  keyPrefix: string;
  redisTimeoutMs: number;
  redis: RedisClient | string | undefined;
  /** The parsed `redis` URL, when a URL was given. */
  redisTarget: RedisTarget | undefined;
  now: () => number;
}

export interface ResolvedRunnerOptions {
  pool: ResolvedPoolOptions;
  /** `null`: `cache: false`. */
  cache: ResolvedCacheOptions | null;
  registry: Registry;
}

export function resolveRunnerOptions(opts: PricingRunnerOptions): ResolvedRunnerOptions {
  const check = optionChecks(COMPONENT);
  const pool = resolvePoolOptions(opts, COMPONENT);
  const registry = opts.registry ?? getRegistry();
  if (
    typeof registry !== 'object' ||
    registry === null ||
    typeof (registry as Partial<Registry>).getSingleMetric !== 'function'
  )
    throw check.invalid(
      'registry',
      'must be a prom-client Registry (leave it out for the shared one)',
    );
  return { pool, cache: resolveCacheOptions(opts.cache, check), registry };
}

function resolveCacheOptions(
  cache: CacheOptions | false | undefined,
  check: OptionChecks,
): ResolvedCacheOptions | null {
  if (cache === false) return null;
  const c: CacheOptions =
    cache === undefined ? {} : check.object('cache', cache, '{ ttlMs: 3600000 } or false');
  const d = RUNNER_DEFAULTS.cache;
  const integer = (name: keyof typeof d & keyof CacheOptions, max: number): number =>
    check.integer(`cache.${name}`, c[name] ?? d[name], 1, max);
  const keyPrefix = c.keyPrefix ?? d.keyPrefix;
  if (typeof keyPrefix !== 'string')
    throw check.invalid('cache.keyPrefix', `must be a string, got ${String(keyPrefix)}`);
  return {
    maxEntries: integer('maxEntries', Number.MAX_SAFE_INTEGER),
    maxBytes: integer('maxBytes', Number.MAX_SAFE_INTEGER),
    ttlMs: integer('ttlMs', Number.MAX_SAFE_INTEGER),
    keyPrefix,
    redisTimeoutMs: integer('redisTimeoutMs', MAX_TIMER_MS),
    redis: redisOption(c.redis, check),
    redisTarget:
      typeof c.redis === 'string' ? redisUrlOption(check, 'cache.redis', c.redis) : undefined,
    now: c[TEST_CLOCK] ?? Date.now,
  };
}

function redisOption(redis: unknown, check: OptionChecks): RedisClient | string | undefined {
  if (redis === undefined) return undefined;
  // A URL is read (its TLS files too) by redisUrlOption, now rather than at the first quote.
  if (typeof redis === 'string') return redis;
  const client = redis as Partial<RedisClient> | null;
  if (
    typeof client !== 'object' ||
    client === null ||
    typeof client.get !== 'function' ||
    typeof client.set !== 'function'
  )
    throw check.invalid(
      'cache.redis',
      'must be an ioredis client (Redis or Cluster) or a Redis URL',
    );
  return redis as RedisClient;
}
