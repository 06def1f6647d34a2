// The proxy's Prometheus metrics. Several proxies (or two copies of this package) may share one
// registry: an existing metric of the same name is reused instead of registered twice, which
// prom-client would refuse.
import { reuseMetric } from '@meskit/kernel';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export const METRIC_NAMES = {
  requests: 'meskit_cache_requests_total',
  fills: 'meskit_cache_fills_total',
  fillDuration: 'meskit_cache_fill_duration_seconds',
  invalidations: 'meskit_cache_invalidations_total',
  writes: 'meskit_cache_writes_total',
  writeThroughGaveUp: 'meskit_cache_write_through_gave_up_total',
  indexOrders: 'meskit_cache_index_orders',
  redisErrors: 'meskit_cache_redis_errors_total',
  events: 'meskit_cache_events_total',
  unreplicatedWrites: 'meskit_cache_unreplicated_writes_total',
  upstreamRetries: 'meskit_cache_upstream_retries_total',
} as const;

// A fill is one list request to the MES plus one script: from milliseconds to the seconds a
// slow MES takes on a large table.
const FILL_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Where the index-size gauge finds the proxies to ask: a `Symbol.for` key on the gauge itself. */
const SIZE_SOURCES = Symbol.for('meskit.cache-proxy.indexSizeSources');
type SizeSource = () => Promise<Map<string, number>>;
type SizeGauge = Gauge<'status'> & { [SIZE_SOURCES]?: Set<SizeSource> };

/** How long a scrape waits for the store's index sizes before leaving the gauge as it was. */
const SIZE_TIMEOUT_MS = 500;

export interface ProxyMetrics {
  requests: Counter<'result'>;
  fills: Counter<'outcome'>;
  fillDuration: Histogram;
  invalidations: Counter<'source'>;
  writes: Counter<'source'>;
  writeThroughGaveUp: Counter<'source' | 'reason'>;
  redisErrors: Counter;
  events: Counter<'outcome'>;
  unreplicatedWrites: Counter;
  upstreamRetries: Counter;
  /** Stops asking this proxy for its index sizes (it closed). */
  detach(): void;
}

export function proxyMetrics(registry: Registry, sizes: SizeSource): ProxyMetrics {
  const gauge = reuseMetric(
    registry,
    METRIC_NAMES.indexOrders,
    (): SizeGauge =>
      new Gauge({
        name: METRIC_NAMES.indexOrders,
        help: 'Orders held in the cached index of each status (read from the store at scrape time, best effort).',
        labelNames: ['status'] as const,
        registers: [registry],
        async collect(this: SizeGauge) {
          const totals = new Map<string, number>();
          for (const source of this[SIZE_SOURCES] ?? []) {
            let timer: NodeJS.Timeout | undefined;
            const timeout = new Promise<undefined>((resolve) => {
              timer = setTimeout(resolve, SIZE_TIMEOUT_MS, undefined);
              timer.unref();
            });
            const sized = await Promise.race([source().catch(() => undefined), timeout]);
            clearTimeout(timer);
            for (const [status, n] of sized ?? [])
              totals.set(status, (totals.get(status) ?? 0) + n);
          }
          for (const [status, n] of totals) this.set({ status }, n);
        },
      }),
  ) as SizeGauge;
  const sources = (gauge[SIZE_SOURCES] ??= new Set());
  sources.add(sizes);
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    reuseMetric(
      registry,
      name,
      () => new Counter<L>({ name, help, labelNames, registers: [registry] }),
    );
  return {
    requests: counter(
      METRIC_NAMES.requests,
      'List requests of a cached status by how they were answered: result="hit" (from the index), "miss" (filled from the MES first), "stale" (the index had expired or was dropped; filled again), "stale_if_error" (from the expired index because the MES failed), "bypass" (forwarded: credentials, beyond the cached depth, store unavailable).',
      ['result'],
    ),
    fills: counter(
      METRIC_NAMES.fills,
      'Index fills (one MES list request each) by outcome="written|incomplete|superseded|reset|store_error|upstream_error".',
      ['outcome'],
    ),
    fillDuration: reuseMetric(
      registry,
      METRIC_NAMES.fillDuration,
      () =>
        new Histogram({
          name: METRIC_NAMES.fillDuration,
          help: 'Time of one fill: the MES list request and the store write.',
          buckets: FILL_BUCKETS,
          registers: [registry],
        }),
    ),
    invalidations: counter(
      METRIC_NAMES.invalidations,
      'Orders removed from an index, by source="proxy" (a take answered 2xx through the proxy), "event" (an order event), "admin" (the admin endpoint or invalidate()).',
      ['source'],
    ),
    writes: counter(
      METRIC_NAMES.writes,
      'Orders written into an index by write-through, by source="event" (an order event) or "proxy" (a write through the proxy answered with an order of a cached status).',
      ['source'],
    ),
    writeThroughGaveUp: counter(
      METRIC_NAMES.writeThroughGaveUp,
      'Write-throughs that gave up before the MES showed the order in the status it was announced in, by source ("event", "proxy") and reason="not_found" (the MES answered 404 throughout) or "behind" (it still showed an earlier status): the order is listed only at the next reconcile (reconcileIntervalMs) or when the index expires. Rising: the MES reads from a replica far behind, or applies events late.',
      ['source', 'reason'],
    ),
    redisErrors: reuseMetric(
      registry,
      METRIC_NAMES.redisErrors,
      () =>
        new Counter({
          name: METRIC_NAMES.redisErrors,
          help: 'Store operations that failed or timed out (Redis unreachable); the request was forwarded to the MES.',
          registers: [registry],
        }),
    ),
    events: counter(
      METRIC_NAMES.events,
      'Order events consumed, by outcome="applied" (acked after the store had its effect), "poison" (unparseable: dead-lettered), "failed" (store or MES unavailable: retried after eventRetryDelayMs).',
      ['outcome'],
    ),
    unreplicatedWrites: counter(
      METRIC_NAMES.unreplicatedWrites,
      'Index writes no replica acknowledged within half of redisTimeoutMs (Redis WAIT, on Sentinel and Cluster): they count, but a failover before the replica catches up would lose them. Rising: a replica is down or lagging.',
      [],
    ),
    upstreamRetries: counter(
      METRIC_NAMES.upstreamRetries,
      'Bodiless GET and HEAD requests to the MES sent a second time because the kept-alive connection they were written on was reset before any answer (the MES closed it as it was reused). A steady rate: lower upstreamIdleTimeoutMs below the MES keep-alive timeout.',
      [],
    ),
    detach() {
      sources.delete(sizes);
    },
  };
}
