// Metrics settings: where /metrics is served, which metrics are recorded, and the route labels
// and buckets of the HTTP histogram.
import { DEFAULTS } from '../../defaults.js';
import type { NormalizeRoute, TelemetryOptions } from '../../options.js';
import { invalid, optionalBoolean, optionalInteger, optionalString } from './checks.js';
import type { EnvReader } from './env.js';

export interface MetricsConfig {
  readonly port: number | false;
  readonly host: string;
  readonly defaultMetrics: boolean;
  readonly httpServerMetrics: boolean;
  readonly normalizeRoute: NormalizeRoute | undefined;
  readonly maxRoutes: number;
  readonly buckets: readonly number[];
}

export function resolveMetrics(options: TelemetryOptions, env: EnvReader): MetricsConfig {
  let port: number | false = DEFAULTS.metricsPort;
  if (options.metricsPort !== undefined) {
    const value = options.metricsPort;
    if (value !== false && !(Number.isInteger(value) && value >= 0 && value <= 65_535)) {
      throw invalid('metricsPort', 'a port number 0-65535 (0 = any free port) or false', value);
    }
    port = value;
  } else {
    const raw = env.string('MESKIT_METRICS_PORT');
    if (raw !== undefined) {
      const parsed = Number(raw);
      if (['off', 'false', 'none'].includes(raw.toLowerCase())) port = false;
      else if (/^\d+$/.test(raw) && parsed <= 65_535) port = parsed;
      else {
        env.report(
          'MESKIT_METRICS_PORT',
          `MESKIT_METRICS_PORT="${raw}" is not a port number (0-65535, 0 = any free port, off = do not serve); using ${DEFAULTS.metricsPort}`,
        );
      }
    }
  }
  const host =
    optionalString(options, 'metricsHost') ??
    env.string('MESKIT_METRICS_HOST') ??
    DEFAULTS.metricsHost;

  if (options.normalizeRoute !== undefined && typeof options.normalizeRoute !== 'function') {
    throw invalid(
      'normalizeRoute',
      'a function (path, request) => string | undefined',
      options.normalizeRoute,
    );
  }
  const buckets = options.httpDurationBuckets ?? DEFAULTS.httpDurationBuckets;
  if (
    !Array.isArray(buckets) ||
    buckets.length === 0 ||
    !buckets.every(
      (b, i) =>
        typeof b === 'number' &&
        Number.isFinite(b) &&
        b > 0 &&
        (i === 0 || b > (buckets[i - 1] as number)),
    )
  ) {
    throw invalid(
      'httpDurationBuckets',
      'a non-empty array of ascending positive numbers of seconds',
      buckets,
    );
  }
  return {
    port,
    host,
    defaultMetrics: optionalBoolean(options, 'defaultMetrics') ?? true,
    httpServerMetrics: optionalBoolean(options, 'httpServerMetrics') ?? true,
    normalizeRoute: options.normalizeRoute,
    maxRoutes: optionalInteger(options, 'maxRoutes', 1) ?? DEFAULTS.maxRoutes,
    buckets: [...buckets],
  };
}
