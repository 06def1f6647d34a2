// The router's Prometheus metrics.
import { reuseMetric } from '@meskit/kernel';
import { Counter, Gauge, type Registry } from 'prom-client';

export const ROUTER_METRICS = {
  queries: 'meskit_db_queries_total',
  lagSeconds: 'meskit_db_replica_lag_seconds',
  lagBytes: 'meskit_db_replica_lag_bytes',
  inService: 'meskit_db_replica_in_service',
  primaryUp: 'meskit_db_primary_up',
  ryw: 'meskit_db_read_your_writes_total',
} as const;

export interface RouterMetrics {
  query(target: string, reason: string): void;
  ryw(outcome: 'replica' | 'waited' | 'fallback' | 'error'): void;
  server(name: string, lagSeconds: number, lagBytes: number, inService: boolean): void;
  primaryUp(up: boolean): void;
  detach(names: readonly string[]): void;
}

export function routerMetrics(registry: Registry): RouterMetrics {
  const m = ROUTER_METRICS;
  const queries = reuseMetric(
    registry,
    m.queries,
    () =>
      new Counter({
        name: m.queries,
        help: 'Queries by where they went (target="primary"|"replica") and why (reason: read, write, locking, volatile, modifying-cte, transaction, multi-statement, hint, unknown, forced, no-replica, ryw-fallback, primary-down, retry, read-only).',
        labelNames: ['target', 'reason'] as const,
        registers: [registry],
      }),
  );
  const lagSeconds = reuseMetric(
    registry,
    m.lagSeconds,
    () =>
      new Gauge({
        name: m.lagSeconds,
        help: 'Seconds since the replica replayed its last transaction while it has WAL left to replay; 0 when caught up.',
        labelNames: ['replica'] as const,
        registers: [registry],
      }),
  );
  const lagBytes = reuseMetric(
    registry,
    m.lagBytes,
    () =>
      new Gauge({
        name: m.lagBytes,
        help: "Bytes of WAL between the primary's insert position and the replica's replay position, at the last poll.",
        labelNames: ['replica'] as const,
        registers: [registry],
      }),
  );
  const inService = reuseMetric(
    registry,
    m.inService,
    () =>
      new Gauge({
        name: m.inService,
        help: '1 while the replica serves reads (answering its polls, in recovery, within the lag limit), 0 while it is out.',
        labelNames: ['replica'] as const,
        registers: [registry],
      }),
  );
  const primaryUp = reuseMetric(
    registry,
    m.primaryUp,
    () =>
      new Gauge({
        name: m.primaryUp,
        help: '1 while the primary answers its polls, 0 while writes fail fast with PRIMARY_UNAVAILABLE.',
        registers: [registry],
      }),
  );
  const ryw = reuseMetric(
    registry,
    m.ryw,
    () =>
      new Counter({
        name: m.ryw,
        help: 'Reads that carried a read-your-writes position, by outcome: "replica" (one had replayed it), "waited" (one caught up within readYourWrites.waitMs), "fallback" (read from the primary), "error" (STALE_REPLICAS).',
        labelNames: ['outcome'] as const,
        registers: [registry],
      }),
  );
  // Counter children cached per (target, reason): no label hashing on every query.
  const children = new Map<string, { inc(): void }>();
  return {
    query(target, reason) {
      const key = `${target}\0${reason}`;
      let child = children.get(key);
      if (!child) {
        child = queries.labels({ target, reason });
        children.set(key, child);
      }
      child.inc();
    },
    ryw: (outcome) => ryw.inc({ outcome }),
    server(name, seconds, bytes, serving) {
      lagSeconds.set({ replica: name }, seconds);
      lagBytes.set({ replica: name }, bytes);
      inService.set({ replica: name }, serving ? 1 : 0);
    },
    primaryUp: (up) => primaryUp.set(up ? 1 : 0),
    detach(names) {
      for (const replica of names) {
        lagSeconds.remove({ replica });
        lagBytes.remove({ replica });
        inService.remove({ replica });
      }
    },
  };
}
