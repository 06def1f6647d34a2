// One recorder for every outcome the proxy counts: each call updates stats() and the
// Prometheus metrics together, so the two cannot disagree. It also says once, as a warning,
// when the index store starts failing.
import type { WarnOnce } from '@meskit/kernel';
import type { Registry } from 'prom-client';
import { METRIC_NAMES, proxyMetrics } from './metrics.js';

export interface CacheProxyStats {
  store: 'memory' | 'redis';
  /**
   * List requests of cached statuses by how they were answered; `staleIfError`: from an
   * expired index while the MES failed (see `staleIfErrorMs`).
   */
  requests: { hit: number; miss: number; stale: number; bypass: number; staleIfError: number };
  /** Every request forwarded unchanged (other routes, other statuses, credentials...). */
  forwarded: number;
  fills: number;
  /** Background fills started by the reconcile timer (`reconcileIntervalMs`). */
  reconciles: number;
  invalidations: { proxy: number; event: number; admin: number };
  writes: number;
  redisErrors: number;
  /** Index writes no replica acknowledged in time (Sentinel, Cluster; see `redisReplicas`). */
  unreplicatedWrites: number;
  /** Reads sent to the MES a second time after their reused connection was reset. */
  upstreamRetries: number;
  events: { applied: number; poison: number; failed: number; ignored: number };
  /** Removals that failed and wait for a retry (reads of cached lists are forwarded meanwhile). */
  pendingInvalidations: number;
  /** Pending removals dropped because the retry queue was full. */
  droppedInvalidations: number;
  consumer: 'off' | 'connected' | 'disconnected';
}

export type RequestResult = keyof CacheProxyStats['requests'];
export type InvalidationSource = keyof CacheProxyStats['invalidations'];
export type EventOutcome = keyof CacheProxyStats['events'];

export const WARN_REDIS = 'MESKIT_CACHE_REDIS_UNAVAILABLE';
export const WARN_UNREPLICATED = 'MESKIT_CACHE_REDIS_UNREPLICATED';
export const WARN_WRITE_THROUGH = 'MESKIT_CACHE_WRITE_THROUGH_GAVE_UP';

/** The `result` label of each request outcome. */
const RESULT_LABEL: Record<RequestResult, string> = {
  hit: 'hit',
  miss: 'miss',
  stale: 'stale',
  bypass: 'bypass',
  staleIfError: 'stale_if_error',
};

export interface Recorder {
  /** A list request answered from a kept rendering: the hot path, no label lookup. */
  hit(): void;
  request(result: RequestResult): void;
  forwarded(): void;
  fill(outcome: string, seconds: number): void;
  reconcile(): void;
  invalidation(source: InvalidationSource): void;
  write(source: 'event' | 'proxy'): void;
  /** A write-through ran out of its budget: counted, and warned about the first time. */
  writeThroughGaveUp(
    source: 'event' | 'proxy',
    reason: 'not_found' | 'behind',
    detail: { orderId: number; status: string; waitedMs: number },
  ): void;
  /** A store operation failed or timed out: counted, and warned about the first time. */
  storeFailed(error: unknown): void;
  event(outcome: EventOutcome): void;
  pendingInvalidations(size: number): void;
  droppedInvalidation(): void;
  unreplicatedWrite(): void;
  /** A read to the MES sent again after its reused connection was reset. */
  upstreamRetry(): void;
  stats(consumer: CacheProxyStats['consumer']): CacheProxyStats;
  /** Stops the index-size gauge asking this proxy (it closed). */
  detach(): void;
}

export function createRecorder(opts: {
  registry: Registry;
  store: CacheProxyStats['store'];
  /** The index sizes per status, read at scrape time. */
  sizes: () => Promise<Map<string, number>>;
  warnOnce: WarnOnce;
}): Recorder {
  const metrics = proxyMetrics(opts.registry, opts.sizes);
  // The counter of the hot path bound once: no label object per hit.
  const hitCounter = metrics.requests.labels({ result: 'hit' });
  const counts: CacheProxyStats = {
    store: opts.store,
    requests: { hit: 0, miss: 0, stale: 0, bypass: 0, staleIfError: 0 },
    forwarded: 0,
    fills: 0,
    reconciles: 0,
    invalidations: { proxy: 0, event: 0, admin: 0 },
    writes: 0,
    redisErrors: 0,
    unreplicatedWrites: 0,
    upstreamRetries: 0,
    events: { applied: 0, poison: 0, failed: 0, ignored: 0 },
    pendingInvalidations: 0,
    droppedInvalidations: 0,
    consumer: 'off',
  };
  return {
    hit() {
      counts.requests.hit += 1;
      hitCounter.inc();
    },
    request(result) {
      counts.requests[result] += 1;
      metrics.requests.inc({ result: RESULT_LABEL[result] });
    },
    forwarded() {
      counts.forwarded += 1;
    },
    fill(outcome, seconds) {
      counts.fills += 1;
      metrics.fills.inc({ outcome });
      metrics.fillDuration.observe(seconds);
    },
    reconcile() {
      counts.reconciles += 1;
    },
    invalidation(source) {
      counts.invalidations[source] += 1;
      metrics.invalidations.inc({ source });
    },
    write(source) {
      counts.writes += 1;
      metrics.writes.inc({ source });
    },
    writeThroughGaveUp(source, reason, detail) {
      metrics.writeThroughGaveUp.inc({ source, reason });
      const what =
        reason === 'not_found' ? 'answered 404 for it' : `still did not show it ${detail.status}`;
      opts.warnOnce(
        WARN_WRITE_THROUGH,
        `cache proxy: write-through of order ${detail.orderId} gave up after ${Math.round(detail.waitedMs / 1000)} s: the MES ${what}; the order is listed at the next reconcile or when the index expires. Is the MES reading from a replica far behind? Further ones are counted in ${METRIC_NAMES.writeThroughGaveUp} without warning.`,
      );
    },
    storeFailed(error) {
      counts.redisErrors += 1;
      metrics.redisErrors.inc();
      const reason = error instanceof Error ? error.message : String(error);
      opts.warnOnce(
        WARN_REDIS,
        `cache proxy: the index store failed (${reason}); requests are forwarded to the MES while it is unavailable. Check the redis option and that Redis is running. Further failures are counted in ${METRIC_NAMES.redisErrors} without warning.`,
      );
    },
    event(outcome) {
      counts.events[outcome] += 1;
      metrics.events.inc({ outcome });
    },
    pendingInvalidations(size) {
      counts.pendingInvalidations = size;
    },
    droppedInvalidation() {
      counts.droppedInvalidations += 1;
    },
    unreplicatedWrite() {
      counts.unreplicatedWrites += 1;
      metrics.unreplicatedWrites.inc();
      opts.warnOnce(
        WARN_UNREPLICATED,
        `cache proxy: an index write was not acknowledged by a replica within half of redisTimeoutMs (Redis WAIT); it counts, but a failover before the replica catches up would lose it. Check the replicas' replication links. Further ones are counted in ${METRIC_NAMES.unreplicatedWrites} without warning.`,
      );
    },
    upstreamRetry() {
      counts.upstreamRetries += 1;
      metrics.upstreamRetries.inc();
    },
    stats(consumer) {
      return {
        ...counts,
        requests: { ...counts.requests },
        invalidations: { ...counts.invalidations },
        events: { ...counts.events },
        consumer,
      };
    },
    detach() {
      metrics.detach();
    },
  };
}

/** Runs a store operation; a failure is recorded (and warned about) before it propagates. */
export async function viaStore<T>(recorder: Recorder, operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    recorder.storeFailed(error);
    throw error;
  }
}
