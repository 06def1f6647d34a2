// The runner's Prometheus metrics. Several runners (or two copies of this package) may share
// one registry: an existing metric of the same name is reused instead of registered twice,
// which prom-client would refuse.
import { reuseMetric } from '@meskit/kernel';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export const METRIC_NAMES = {
  jobs: 'meskit_pricing_jobs_total',
  jobDuration: 'meskit_pricing_job_duration_seconds',
  queueDepth: 'meskit_pricing_queue_depth',
  queueCapacity: 'meskit_pricing_queue_capacity',
  cacheRequests: 'meskit_pricing_cache_requests_total',
  errors: 'meskit_pricing_errors_total',
  cacheErrors: 'meskit_pricing_cache_errors_total',
} as const;

// From a tiny STL on an idle worker (milliseconds) to the legacy pricing of a large model
// offloaded (minutes); +Inf catches the rest.
const DURATION_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300,
];

// Where the queue-depth gauge finds the runners to sum. A `Symbol.for` key on the gauge
// itself, so runners from two copies of this package sharing a registry sum together.
const DEPTH_SOURCES = Symbol.for('meskit.pricing-runner.queueDepthSources');
type DepthGauge = Gauge & { [DEPTH_SOURCES]?: Set<() => number> };

/** A gauge whose value, read at scrape, is the sum of its sources (one per open runner). */
function summedGauge(registry: Registry, name: string, help: string): DepthGauge {
  return reuseMetric(
    registry,
    name,
    (): DepthGauge =>
      new Gauge({
        name,
        help,
        registers: [registry],
        collect(this: DepthGauge) {
          let sum = 0;
          for (const source of this[DEPTH_SOURCES] ?? []) sum += source();
          this.set(sum);
        },
      }),
  ) as DepthGauge;
}

export interface RunnerMetrics {
  jobs: Counter<'outcome'>;
  jobDuration: Histogram<'format'>;
  cacheRequests: Counter<'result'>;
  errors: Counter<'code'>;
  cacheErrors: Counter<'operation'>;
  /** Stops counting this runner's queue in the gauge (the runner closed). */
  detach(): void;
}

export function runnerMetrics(
  registry: Registry,
  queued: () => number,
  capacity: () => number,
): RunnerMetrics {
  const depth = summedGauge(
    registry,
    METRIC_NAMES.queueDepth,
    'Pricing jobs waiting for a free worker, summed over the runners of this process.',
  );
  const bound = summedGauge(
    registry,
    METRIC_NAMES.queueCapacity,
    'Jobs the pricing queues may hold before refusing new ones (QUEUE_FULL): maxQueue, summed over the runners of this process.',
  );
  const depthSources = (depth[DEPTH_SOURCES] ??= new Set());
  const boundSources = (bound[DEPTH_SOURCES] ??= new Set());
  depthSources.add(queued);
  boundSources.add(capacity);
  return {
    jobs: reuseMetric(
      registry,
      METRIC_NAMES.jobs,
      () =>
        new Counter({
          name: METRIC_NAMES.jobs,
          help: 'Pricing computations run on the worker pool (one per cache miss), by outcome="ok|failed".',
          labelNames: ['outcome'] as const,
          registers: [registry],
        }),
    ),
    jobDuration: reuseMetric(
      registry,
      METRIC_NAMES.jobDuration,
      () =>
        new Histogram({
          name: METRIC_NAMES.jobDuration,
          help: 'Time from submitting a pricing computation to its result, queue wait included, by the model format detected (format="unknown" when none is).',
          labelNames: ['format'] as const,
          buckets: DURATION_BUCKETS,
          registers: [registry],
        }),
    ),
    cacheRequests: reuseMetric(
      registry,
      METRIC_NAMES.cacheRequests,
      () =>
        new Counter({
          name: METRIC_NAMES.cacheRequests,
          help: 'Quotes by how the cache served them: result="hit" (from the cache), "miss" (computed), "coalesced" (joined an identical quote in flight).',
          labelNames: ['result'] as const,
          registers: [registry],
        }),
    ),
    errors: reuseMetric(
      registry,
      METRIC_NAMES.errors,
      () =>
        new Counter({
          name: METRIC_NAMES.errors,
          help: 'Quotes that failed, by the error code (MeshError, PriceModelError and PricingPoolError codes; UNEXPECTED for anything else).',
          labelNames: ['code'] as const,
          registers: [registry],
        }),
    ),
    cacheErrors: reuseMetric(
      registry,
      METRIC_NAMES.cacheErrors,
      () =>
        new Counter({
          name: METRIC_NAMES.cacheErrors,
          help: 'Redis cache operations that failed or timed out (operation="get|set"); the quote was computed (or returned) without the cache.',
          labelNames: ['operation'] as const,
          registers: [registry],
        }),
    ),
    detach() {
      depthSources.delete(queued);
      boundSources.delete(capacity);
    },
  };
}
