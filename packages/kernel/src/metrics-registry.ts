// The process-wide prom-client registry. This module imports prom-client and nothing else, so
// every meskit library reaches the shared registry without the OpenTelemetry SDK; the process
// that runs otel-bootstrap serves it on /metrics.
import { Registry } from 'prom-client';

/**
 * The `globalThis` key of the shared registry. A `Symbol.for` key, so two copies of a meskit
 * package (or of prom-client) in one process still find the same registry.
 */
export const METRICS_REGISTRY_KEY: unique symbol = Symbol.for('meskit.metrics.registry');

type RegistryHolder = { [METRICS_REGISTRY_KEY]?: Registry };

/**
 * The one prom-client registry of this process, created on first use. Every meskit package
 * registers its metrics here unless given another (`registers: [getRegistry()]`). It uses the
 * Prometheus text format; otel-bootstrap renders OpenMetrics (with exemplars) from it when the
 * scraper asks for that.
 */
export function getRegistry(): Registry {
  const holder = globalThis as RegistryHolder;
  holder[METRICS_REGISTRY_KEY] ??= new Registry();
  return holder[METRICS_REGISTRY_KEY];
}

/**
 * The metric `name` already registered in `registry`, or the one `create` registers. Two
 * instances of a component in one process (two proxies, two publishers) then share their
 * metrics instead of prom-client throwing on the second registration.
 */
export function reuseMetric<T>(registry: Registry, name: string, create: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? create();
}
