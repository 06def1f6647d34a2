// The publisher's Prometheus metrics, reused when another publisher registered them first.
import { reuseMetric } from '@meskit/kernel';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export const PUBLISHER_METRICS = {
  published: 'meskit_mq_published_total',
  resent: 'meskit_mq_resent_total',
  buffered: 'meskit_mq_unconfirmed_messages',
  confirmDuration: 'meskit_mq_confirm_duration_seconds',
  reconnects: 'meskit_mq_reconnects_total',
} as const;

export interface PublisherMetrics {
  /** The counter child of one outcome (children cached: no label hashing per publish). */
  outcome(outcome: string): { inc(): void };
  resent: { inc(): void };
  confirmDuration: { observe(seconds: number): void };
  reconnects: { inc(): void };
  /** Stops counting this publisher's unconfirmed messages (it closed). */
  detach(): void;
}

/** Per registry, the unconfirmed counts of its live publishers, summed at each scrape. */
const unconfirmedSources = new WeakMap<Registry, Set<() => number>>();

export function reconnectsCounter(registry: Registry): Counter {
  return reuseMetric(
    registry,
    PUBLISHER_METRICS.reconnects,
    () =>
      new Counter({
        name: PUBLISHER_METRICS.reconnects,
        help: 'Channels opened again after the previous one (or its connection) died.',
        registers: [registry],
      }),
  );
}

/**
 * The publisher's metrics; `unconfirmed` is read at scrape time (the gauge sums every
 * publisher of the registry), so a publish costs no gauge update.
 */
export function publisherMetrics(registry: Registry, unconfirmed: () => number): PublisherMetrics {
  const m = PUBLISHER_METRICS;
  let sources = unconfirmedSources.get(registry);
  if (!sources) {
    const all = new Set<() => number>();
    sources = all;
    unconfirmedSources.set(registry, all);
    reuseMetric(
      registry,
      m.buffered,
      () =>
        new Gauge({
          name: m.buffered,
          help: 'Messages published and not yet confirmed (buffered while disconnected, or in flight), summed over the publishers of the process.',
          registers: [registry],
          collect() {
            let sum = 0;
            for (const size of all) sum += size();
            this.set(sum);
          },
        }),
    );
  }
  sources.add(unconfirmed);
  const published = reuseMetric(
    registry,
    m.published,
    () =>
      new Counter({
        name: m.published,
        help: 'Publishes by how they ended: outcome="confirmed", "unroutable", "nacked", "no_exchange", "timeout", "buffer_full", "closed".',
        labelNames: ['outcome'] as const,
        registers: [registry],
      }),
  );
  const children = new Map<string, { inc(): void }>();
  const owned = sources;
  return {
    outcome(outcome) {
      let child = children.get(outcome);
      if (!child) {
        child = published.labels({ outcome });
        children.set(outcome, child);
      }
      return child;
    },
    resent: reuseMetric(
      registry,
      m.resent,
      () =>
        new Counter({
          name: m.resent,
          help: 'Messages sent again, with the same message-id, because their channel died before the broker confirmed them.',
          registers: [registry],
        }),
    ),
    confirmDuration: reuseMetric(
      registry,
      m.confirmDuration,
      () =>
        new Histogram({
          name: m.confirmDuration,
          help: 'Time from publish() to the broker confirm, buffering included.',
          buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
          registers: [registry],
        }),
    ),
    reconnects: reconnectsCounter(registry),
    detach() {
      owned.delete(unconfirmed);
    },
  };
}

export const OUTBOX_METRICS = {
  pending: 'meskit_mq_outbox_pending_messages',
  oldestAge: 'meskit_mq_outbox_oldest_age_seconds',
  relayed: 'meskit_mq_outbox_relayed_total',
  pruned: 'meskit_mq_outbox_pruned_total',
} as const;

export interface OutboxMetrics {
  pending: { set(value: number): void };
  oldestAge: { set(value: number): void };
  relayed: { inc(labels: { outcome: 'sent' | 'failed' }, value: number): void };
  pruned: { inc(value: number): void };
  /** Removes this outbox's gauge series (it closed). */
  detach(): void;
}

/** The outbox's metrics, labelled with its table (several outboxes may share a process). */
export function outboxMetrics(registry: Registry, table: string): OutboxMetrics {
  const m = OUTBOX_METRICS;
  const pending = reuseMetric(
    registry,
    m.pending,
    () =>
      new Gauge({
        name: m.pending,
        help: "Outbox rows not yet published (committed, waiting for the relay), as of the relay's last look (every second while it runs).",
        labelNames: ['table'] as const,
        registers: [registry],
      }),
  );
  const oldestAge = reuseMetric(
    registry,
    m.oldestAge,
    () =>
      new Gauge({
        name: m.oldestAge,
        help: 'Age of the oldest outbox row not yet published; 0 when none waits.',
        labelNames: ['table'] as const,
        registers: [registry],
      }),
  );
  const relayed = reuseMetric(
    registry,
    m.relayed,
    () =>
      new Counter({
        name: m.relayed,
        help: 'Outbox rows the relay published (outcome="sent", confirmed) or failed to publish (outcome="failed", retried later).',
        labelNames: ['table', 'outcome'] as const,
        registers: [registry],
      }),
  );
  const pruned = reuseMetric(
    registry,
    m.pruned,
    () =>
      new Counter({
        name: m.pruned,
        help: 'Sent outbox rows deleted after their retention.',
        labelNames: ['table'] as const,
        registers: [registry],
      }),
  );
  return {
    pending: { set: (v) => pending.set({ table }, v) },
    oldestAge: { set: (v) => oldestAge.set({ table }, v) },
    relayed: { inc: (labels, v) => relayed.inc({ table, ...labels }, v) },
    pruned: { inc: (v) => pruned.inc({ table }, v) },
    detach() {
      pending.remove({ table });
      oldestAge.remove({ table });
    },
  };
}

export const CONSUMER_METRICS = {
  consumed: 'meskit_mq_consumed_total',
  duration: 'meskit_mq_handler_duration_seconds',
  inFlight: 'meskit_mq_consumer_in_flight_messages',
  up: 'meskit_mq_consumer_up',
} as const;

export interface ConsumerMetrics {
  consumed: { inc(labels: { outcome: string }): void };
  duration: { observe(seconds: number): void };
  inFlight: { inc(): void; dec(): void };
  up: { set(value: number): void };
  reconnects: { inc(): void };
  /** Removes this consumer's gauge series (it closed). */
  detach(): void;
}

/** A consumer's metrics, labelled with its queue. */
export function consumerMetrics(registry: Registry, queue: string): ConsumerMetrics {
  const m = CONSUMER_METRICS;
  const consumed = reuseMetric(
    registry,
    m.consumed,
    () =>
      new Counter({
        name: m.consumed,
        help: 'Deliveries by how they ended: outcome="acked" (handled), "duplicate" (the inbox had it: not handled again), "retried" (sent to a wait queue), "dead_lettered" (retries exhausted), "unparseable" (straight to the dead-letter queue), "requeued" (the copy was not confirmed: back to the queue).',
        labelNames: ['queue', 'outcome'] as const,
        registers: [registry],
      }),
  );
  const duration = reuseMetric(
    registry,
    m.duration,
    () =>
      new Histogram({
        name: m.duration,
        help: 'Time from delivery to ack (the handler, the inbox, a retry copy confirmed).',
        labelNames: ['queue'] as const,
        buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
        registers: [registry],
      }),
  );
  const inFlight = reuseMetric(
    registry,
    m.inFlight,
    () =>
      new Gauge({
        name: m.inFlight,
        help: 'Deliveries being handled (at most the prefetch).',
        labelNames: ['queue'] as const,
        registers: [registry],
      }),
  );
  const up = reuseMetric(
    registry,
    m.up,
    () =>
      new Gauge({
        name: m.up,
        help: '1 while the consumer of the queue is registered on a live channel, 0 while it reconnects or after close.',
        labelNames: ['queue'] as const,
        registers: [registry],
      }),
  );
  const reconnects = reconnectsCounter(registry);
  const labels = { queue };
  inFlight.set(labels, 0);
  up.set(labels, 0);
  return {
    consumed: { inc: (l) => consumed.inc({ ...labels, ...l }) },
    duration: { observe: (s) => duration.observe(labels, s) },
    inFlight: { inc: () => inFlight.inc(labels), dec: () => inFlight.dec(labels) },
    up: { set: (v) => up.set(labels, v) },
    reconnects,
    detach() {
      inFlight.remove(labels);
    },
  };
}
