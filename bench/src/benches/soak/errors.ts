// The error counts of the soak beyond the traffic's own: what the meskit processes count in
// their metrics (dropped telemetry, 5xx, unconfirmed publishes, dead letters, pricing and cache
// failures), and what each MES and the cache proxy say in their stats.
import type { MetricSample } from './prometheus.js';

/** A counter of a meskit process whose matching samples are errors (the sum must stay 0). */
interface ErrorCounter {
  name: string;
  what: string;
  counts: (labels: Readonly<Record<string, string>>) => boolean;
}

const ERROR_COUNTERS: readonly ErrorCounter[] = [
  { name: 'meskit_otel_spans_dropped_total', what: 'spans dropped', counts: () => true },
  { name: 'meskit_otel_log_lines_dropped_total', what: 'log lines dropped', counts: () => true },
  {
    name: 'meskit_http_server_request_duration_seconds_count',
    what: 'HTTP 5xx answered',
    counts: (l) => /^5\d\d$/.test(l['status_code'] ?? ''),
  },
  {
    name: 'meskit_mq_published_total',
    what: 'publishes not confirmed',
    counts: (l) => l['outcome'] !== 'confirmed',
  },
  {
    name: 'meskit_mq_consumed_total',
    what: 'deliveries dead-lettered, unparseable or requeued',
    counts: (l) => ['dead_lettered', 'unparseable', 'requeued'].includes(l['outcome'] ?? ''),
  },
  { name: 'meskit_pricing_errors_total', what: 'pricing errors', counts: () => true },
  { name: 'meskit_cache_redis_errors_total', what: 'cache Redis errors', counts: () => true },
  {
    name: 'meskit_cache_events_total',
    what: 'cache events poison or failed',
    counts: (l) => l['outcome'] === 'poison' || l['outcome'] === 'failed',
  },
  {
    name: 'meskit_cache_fills_total',
    what: 'cache fills failed (store or MES)',
    counts: (l) => l['outcome'] === 'store_error' || l['outcome'] === 'upstream_error',
  },
];

/** Counters reported beside the errors: not failures, but worth seeing. */
const INFO_COUNTERS: readonly ErrorCounter[] = [
  {
    name: 'meskit_mq_consumed_total',
    what: 'duplicate deliveries absorbed by the inbox',
    counts: (l) => l['outcome'] === 'duplicate',
  },
  {
    name: 'meskit_mq_consumed_total',
    what: 'deliveries retried',
    counts: (l) => l['outcome'] === 'retried',
  },
  { name: 'meskit_mq_resent_total', what: 'messages resent', counts: () => true },
  { name: 'meskit_otel_spans_exported_total', what: 'spans exported', counts: () => true },
];

function tally(
  samples: readonly MetricSample[],
  counters: readonly ErrorCounter[],
): Record<string, number> {
  const totals: Record<string, number> = {};
  for (const counter of counters) {
    totals[counter.what] = samples
      .filter((s) => s.name === counter.name && counter.counts(s.labels))
      .reduce((sum, s) => sum + s.value, 0);
  }
  return totals;
}

/** The samples behind metricErrors' non-zero counts, labels included (which route, which code). */
export function metricErrorSamples(samples: readonly MetricSample[]): MetricSample[] {
  return samples.filter(
    (s) => s.value > 0 && ERROR_COUNTERS.some((c) => c.name === s.name && c.counts(s.labels)),
  );
}

/** Every error counter of one process's metrics, by what it counts (0 when absent). */
export function metricErrors(samples: readonly MetricSample[]): Record<string, number> {
  return tally(samples, ERROR_COUNTERS);
}

/** The informational counters of one process's metrics. */
export function metricInfo(samples: readonly MetricSample[]): Record<string, number> {
  return tally(samples, INFO_COUNTERS);
}

/** The reference MES's GET /internal/stats (the fields the soak reads). */
export interface MesCounters {
  messaging: string;
  published: number;
  publishedUnconfirmed: number;
  publishFailures: number;
  consumed: number;
  consumeFailures: number;
}

export async function readMesStats(mesUrl: string): Promise<MesCounters> {
  const response = await fetch(`${mesUrl}/internal/stats`, { signal: AbortSignal.timeout(5_000) });
  if (!response.ok) throw new Error(`GET ${mesUrl}/internal/stats answered ${response.status}`);
  return (await response.json()) as MesCounters;
}

/** The cache proxy's admin GET /stats (the fields the soak reads). */
export interface CacheCounters {
  requests: { hit: number; miss: number; stale: number; bypass: number; staleIfError: number };
  forwarded: number;
  fills: number;
  redisErrors: number;
  events: { applied: number; poison: number; failed: number; ignored: number };
  droppedInvalidations: number;
  pendingInvalidations: number;
  consumer: string;
}

export async function readCacheStats(adminUrl: string, token: string): Promise<CacheCounters> {
  const response = await fetch(`${adminUrl}/stats`, {
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(5_000),
  });
  if (!response.ok) throw new Error(`GET ${adminUrl}/stats answered ${response.status}`);
  return (await response.json()) as CacheCounters;
}

/**
 * What of the cache proxy's stats is an error, beyond what its metrics count already (Redis
 * errors, poison and failed events): each must be 0 at the end of a clean soak.
 */
export function cacheStatsErrors(stats: CacheCounters): Record<string, number> {
  return {
    'cache: invalidations dropped': stats.droppedInvalidations,
    'cache: invalidations still pending': stats.pendingInvalidations,
    'cache: answers stale because the MES failed': stats.requests.staleIfError,
    'cache: event consumer not connected at the end': stats.consumer === 'connected' ? 0 : 1,
  };
}
