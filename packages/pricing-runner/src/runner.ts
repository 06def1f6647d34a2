import { performance } from 'node:perf_hooks';
import type { Cluster, Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { MeshError, PriceModelError, PricingPoolError } from './errors.js';
import type { CacheBackend, TEST_CLOCK } from './internal/cache.js';
import { cacheKeys } from './internal/cache-key.js';
import { cacheErrorReporter, createCacheBackend } from './internal/cache-setup.js';
import { detectFormat } from './internal/detect-format.js';
import { METRIC_NAMES, runnerMetrics } from './internal/metrics.js';
import { checkRequest } from './internal/pool-options.js';
import { TEST_DELAY_MS } from './internal/pool-protocol.js';
import { RUNNER_DEFAULTS, resolveRunnerOptions } from './internal/runner-options.js';
import {
  startPool,
  type OffloadOptions,
  type PricingPoolOptions,
  type PricingPoolStats,
  type PricingResult,
} from './pool.js';

export { RUNNER_DEFAULTS } from './internal/runner-options.js';

/** Result cache options of `createPricingRunner`. */
export interface CacheOptions {
  /** In-memory cache: entries kept; the least recently used goes first. Default: 1000. */
  maxEntries?: number;
  /**
   * In-memory cache: bytes of JSON kept (least recently used evicted first); a single result
   * larger than this is not cached. Default: 64 MiB.
   */
  maxBytes?: number;
  /** How long a result is served from the cache (memory, or Redis `SET … PX`). Default: 3 600 000 ms (1 h). */
  ttlMs?: number;
  /**
   * Keep results in Redis instead of memory, shared by every runner using it: an ioredis
   * client (yours: `close()` leaves it open) or a URL (the runner creates the client and
   * closes it): `redis://` / `rediss://`, `redis+sentinel://host:port,host:port/<master name>`
   * or `redis+cluster://host:port,host:port` (docs/redis-ha.md). Default: none, results are
   * kept in memory.
   */
  redis?: Redis | Cluster | string;
  /** Prefix of every cache key (in Redis, and the `key` of a quote). Default: `'meskit:pricing:'`. */
  keyPrefix?: string;
  /**
   * Longest wait for Redis on a `GET` or `SET` before the quote goes on without the cache
   * (the failure is counted and warned about once). Default: 250 ms.
   */
  redisTimeoutMs?: number;
  /** Internal test hook (see `internal/cache.ts`); not part of the public API. */
  [TEST_CLOCK]?: () => number;
}

/** Options of `createPricingRunner`: those of `createPricingPool`, a cache and a registry. */
export interface PricingRunnerOptions extends PricingPoolOptions {
  /**
   * The result cache; `false` turns it off (identical concurrent quotes still coalesce).
   * Default: in memory, with the `CacheOptions` defaults.
   */
  cache?: CacheOptions | false;
  /**
   * The prom-client registry the metrics are registered in (reused, not registered twice,
   * when another runner already did). Default: the process's shared registry (the kernel's
   * `getRegistry()`, the one otel-bootstrap serves on `/metrics`).
   */
  registry?: Registry;
}

/** Options of one `quote`. */
export interface QuoteOptions {
  /**
   * Alloy to price in (refused up front with `PriceModelError` when the model lacks it); in
   * offload mode passed to the function as `options.alloy`. Part of the cache key.
   * Default: the price model's `defaultAlloy`.
   */
  alloy?: string;
  /**
   * Aborting it rejects this quote (`CANCELLED`). The computation itself is cancelled only
   * when every quote waiting for it has aborted. Default: none.
   */
  signal?: AbortSignal;
  /** Internal test hook (see `internal/pool-protocol.ts`); not part of the public API. */
  [TEST_DELAY_MS]?: number;
}

interface QuoteMeta {
  /**
   * Whether the result came from the cache. A quote that joined an identical one in flight
   * reports what that one got.
   */
  cached: boolean;
  /** The cache key: the prefix, a BLAKE2b content hash of the bytes, and a digest of what else changes the result. */
  key: string;
}

/** A quote priced with the runner's model. */
export interface PricingQuote extends PricingResult, QuoteMeta {}

/** A quote of the offloaded function: its (JSON-normalised) result. */
export interface OffloadQuote<R> extends QuoteMeta {
  result: R;
}

export interface PricingRunnerStats {
  pool: PricingPoolStats;
  /**
   * Quotes answered: `computed` (a worker job ran for it), `cached` (from the cache),
   * `coalesced` (joined an identical quote in flight), `failed` (rejected).
   */
  quotes: { computed: number; cached: number; coalesced: number; failed: number };
  /** Distinct computations (cache lookups included) in flight now. */
  inFlight: number;
  cache: {
    kind: 'memory' | 'redis' | 'off';
    hits: number;
    misses: number;
    /** Cache operations that failed (Redis unreachable, timed out, corrupt entry). */
    errors: number;
    /** Memory cache only (`null` otherwise): entries and bytes held, and what it dropped. */
    entries: number | null;
    bytes: number | null;
    evicted: number;
    expired: number;
    tooLarge: number;
  };
}

export interface PricingRunner<Q = PricingQuote> {
  /**
   * Prices `bytes` (binary/ASCII STL, OBJ, 3MF): from the cache when it can, else on the
   * pool. The bytes are hashed first; when a computation runs they are then transferred to
   * the worker, so a buffer owning its whole `ArrayBuffer` is detached (see
   * `PricingPool.submit`): do not reuse or modify `bytes` after calling `quote`.
   */
  quote(bytes: Uint8Array, opts?: QuoteOptions): Promise<Q>;
  stats(): PricingRunnerStats;
  /**
   * Stops accepting quotes, closes the pool (queued jobs reject `CLOSED`, running ones
   * finish), waits for their cache writes, and closes the Redis client if the runner created
   * it. Safe to call twice.
   */
  close(): Promise<void>;
}

/** The names of the runner's metrics, for dashboards and tests. */
export const RUNNER_METRICS = METRIC_NAMES;

interface Outcome {
  value: unknown;
  cached: boolean;
}

interface Flight {
  promise: Promise<Outcome>;
  waiters: number;
  controller: AbortController;
}

/**
 * The pricing pool, a result cache (memory or Redis) and metrics: `quote(bytes, { alloy })`
 * answers `{ analysis, price, cached, key }`, or with `offload` `{ result, cached, key }`.
 * Throws the kernel's `InvalidOptionError` (`INVALID_OPTION`, naming the option) at
 * construction on a bad option, before any worker starts or Redis is dialled.
 */
export function createPricingRunner<R = unknown>(
  opts: PricingRunnerOptions & { offload: OffloadOptions },
): PricingRunner<OffloadQuote<R>>;
export function createPricingRunner(
  opts?: PricingRunnerOptions & { offload?: undefined },
): PricingRunner<PricingQuote>;
export function createPricingRunner(opts: PricingRunnerOptions = {}): PricingRunner<unknown> {
  const { pool: config, cache: cacheOpts, registry } = resolveRunnerOptions(opts);
  const keyOf = cacheKeys(config, cacheOpts?.keyPrefix ?? RUNNER_DEFAULTS.cache.keyPrefix);

  const pool = startPool(config);
  const maxQueue = pool.stats().maxQueue;
  const metrics = runnerMetrics(
    registry,
    () => pool.stats().queued,
    () => maxQueue,
  );
  let cacheErrors = 0;
  const onCacheError = cacheErrorReporter((operation) => {
    cacheErrors++;
    metrics.cacheErrors.inc({ operation });
  });
  let cache: CacheBackend | undefined;
  try {
    cache = cacheOpts ? createCacheBackend(cacheOpts, onCacheError) : undefined;
  } catch (error) {
    metrics.detach();
    void pool.close();
    throw error;
  }

  const inflight = new Map<string, Flight>();
  const running = new Set<Promise<unknown>>();
  const quotes = { computed: 0, cached: 0, coalesced: 0, failed: 0 };
  let hits = 0;
  let misses = 0;
  let closing: Promise<void> | undefined;

  function formatOf(bytes: Uint8Array): string {
    if (config.offload === null && config.analyze.format) return config.analyze.format;
    try {
      return detectFormat(bytes);
    } catch {
      return 'unknown';
    }
  }

  /** Answers from a hit, or refuses what this runner's limits refuse (the entry may be another's). */
  function fromCache(json: string): Outcome | undefined {
    let value: unknown;
    try {
      value = JSON.parse(json);
    } catch (error) {
      if (cache?.kind === 'redis') onCacheError('get', error as Error);
      else cacheErrors++;
      return undefined;
    }
    if (config.offload === null) {
      const triangles = (value as PricingResult).analysis.triangles;
      if (triangles > config.analyze.maxTriangles)
        throw new MeshError(
          'TOO_LARGE',
          `the model has ${triangles} triangles, over maxTriangles (${config.analyze.maxTriangles})`,
        );
    }
    return { value, cached: true };
  }

  function startFlight(key: string, bytes: Uint8Array, quoteOpts: QuoteOptions): Flight {
    const controller = new AbortController();
    const promise = (async (): Promise<Outcome> => {
      const json = cache ? await cache.get(key) : undefined;
      const hit = json === undefined ? undefined : fromCache(json);
      if (hit) {
        hits++;
        metrics.cacheRequests.inc({ result: 'hit' });
        return hit;
      }
      misses++;
      metrics.cacheRequests.inc({ result: 'miss' });
      const format = formatOf(bytes);
      const started = performance.now();
      let value: unknown;
      try {
        value = await pool.submit(bytes, {
          alloy: quoteOpts.alloy,
          signal: controller.signal,
          [TEST_DELAY_MS]: quoteOpts[TEST_DELAY_MS] ?? 0,
        });
      } catch (error) {
        metrics.jobs.inc({ outcome: 'failed' });
        metrics.jobDuration.observe({ format }, (performance.now() - started) / 1000);
        throw error;
      }
      metrics.jobs.inc({ outcome: 'ok' });
      metrics.jobDuration.observe({ format }, (performance.now() - started) / 1000);
      if (cache) await cache.set(key, JSON.stringify(value));
      return { value, cached: false };
    })();
    const flight: Flight = { promise, waiters: 0, controller };
    inflight.set(key, flight);
    running.add(promise);
    const done = (): void => {
      running.delete(promise);
      if (inflight.get(key) === flight) inflight.delete(key);
    };
    promise.then(done, done);
    return flight;
  }

  /** This caller's view of a flight: its own cancellation, without cancelling the others'. */
  function wait(flight: Flight, key: string, signal: AbortSignal | undefined): Promise<Outcome> {
    flight.waiters++;
    if (!signal) return flight.promise;
    return new Promise<Outcome>((resolve, reject) => {
      const onAbort = (): void => {
        flight.waiters--;
        if (flight.waiters === 0) {
          // Nobody wants it any more: cancel the job, and let a later identical quote start afresh.
          if (inflight.get(key) === flight) inflight.delete(key);
          flight.controller.abort(signal.reason);
        }
        reject(cancelled(signal));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      flight.promise.then(
        (outcome) => {
          signal.removeEventListener('abort', onAbort);
          resolve(outcome);
        },
        (error: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(error as Error);
        },
      );
    });
  }

  async function run(bytes: Uint8Array, quoteOpts: QuoteOptions): Promise<unknown> {
    if (!(bytes instanceof Uint8Array))
      throw new TypeError('quote: bytes must be a Uint8Array (or Buffer) holding the model file');
    if (closing) throw new PricingPoolError('CLOSED', 'pricing runner is closed; create a new one');
    const { signal, alloy } = quoteOpts;
    if (signal?.aborted) throw cancelled(signal);
    const refused = checkRequest(config, bytes, alloy);
    if (refused) throw refused;
    const key = await keyOf(bytes, alloy);
    if (signal?.aborted) throw cancelled(signal);
    if (closing) throw new PricingPoolError('CLOSED', 'pricing runner is closed; create a new one');
    let flight = inflight.get(key);
    let leader = false;
    if (flight) metrics.cacheRequests.inc({ result: 'coalesced' });
    else {
      flight = startFlight(key, bytes, quoteOpts);
      leader = true;
    }
    const outcome = await wait(flight, key, signal);
    if (!leader) quotes.coalesced++;
    else if (outcome.cached) quotes.cached++;
    else quotes.computed++;
    // Each follower gets its own copy, so one caller changing its result cannot change another's.
    const value = leader ? outcome.value : structuredClone(outcome.value);
    return config.offload === null
      ? { ...(value as PricingResult), cached: outcome.cached, key }
      : { result: value, cached: outcome.cached, key };
  }

  function quote(bytes: Uint8Array, quoteOpts: QuoteOptions = {}): Promise<unknown> {
    return run(bytes, quoteOpts).catch((error: unknown) => {
      quotes.failed++;
      metrics.errors.inc({ code: codeOf(error) });
      throw error;
    });
  }

  function stats(): PricingRunnerStats {
    const backend = cache?.stats();
    return {
      pool: pool.stats(),
      quotes: { ...quotes },
      inFlight: inflight.size,
      cache: {
        kind: cache?.kind ?? 'off',
        hits,
        misses,
        errors: cacheErrors,
        entries: backend?.entries ?? null,
        bytes: backend?.bytes ?? null,
        evicted: backend?.evicted ?? 0,
        expired: backend?.expired ?? 0,
        tooLarge: backend?.tooLarge ?? 0,
      },
    };
  }

  function close(): Promise<void> {
    closing ??= (async () => {
      try {
        await pool.close();
        // Flights whose job finished still write their result to the cache.
        await Promise.allSettled(running);
        await cache?.close();
      } finally {
        metrics.detach();
      }
    })();
    return closing;
  }

  return { quote, stats, close };
}

function cancelled(signal: AbortSignal): PricingPoolError {
  return new PricingPoolError('CANCELLED', 'pricing quote cancelled', { cause: signal.reason });
}

/** A low-cardinality label: the stable code of our own errors, UNEXPECTED for anything else. */
function codeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (
    typeof code === 'string' &&
    (error instanceof MeshError ||
      error instanceof PricingPoolError ||
      error instanceof PriceModelError)
  )
    return code;
  return 'UNEXPECTED';
}
