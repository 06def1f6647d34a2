// The publisher's Prometheus metrics, reused when another publisher registered them first.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export const PUBLISHER_METRICS = {
  published: 'meskit_mq_published_total',
  resent: 'meskit_mq_resent_total',
  buffered: 'meskit_mq_unconfirmed_messages',
  confirmDuration: 'meskit_mq_confirm_duration_seconds',
  reconnects: 'meskit_mq_reconnects_total',
} as const;

export interface PublisherMetrics {
  published: Counter<'outcome'>;
  resent: Counter;
  buffered: Gauge;
  confirmDuration: Histogram;
  reconnects: Counter;
}

function reuse<T>(registry: Registry, name: string, create: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? create();
}

export function publisherMetrics(registry: Registry): PublisherMetrics {
  const m = PUBLISHER_METRICS;
  return {
    published: reuse(
      registry,
      m.published,
      () =>
        new Counter({
          name: m.published,
          help: 'Publishes by how they ended: outcome="confirmed", "unroutable", "nacked", "no_exchange", "timeout", "buffer_full", "closed".',
          labelNames: ['outcome'] as const,
          registers: [registry],
        }),
    ),
    resent: reuse(
      registry,
      m.resent,
      () =>
        new Counter({
          name: m.resent,
          help: 'Messages sent again, with the same message-id, because their channel died before the broker confirmed them.',
          registers: [registry],
        }),
    ),
    buffered: reuse(
      registry,
      m.buffered,
      () =>
        new Gauge({
          name: m.buffered,
          help: 'Messages published and not yet confirmed (buffered while disconnected, or in flight), summed over the publishers of the process.',
          registers: [registry],
        }),
    ),
    confirmDuration: reuse(
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
    reconnects: reuse(
      registry,
      m.reconnects,
      () =>
        new Counter({
          name: m.reconnects,
          help: 'Channels opened again after the previous one (or its connection) died.',
          registers: [registry],
        }),
    ),
  };
}
