// Public API of @meskit/otel-bootstrap. Everything under internal/ may change without notice.
export { DEFAULTS } from './defaults.js';
export { InvalidOptionError } from '@meskit/kernel';
export { TelemetryError, WARNING_CODES } from './errors.js';
export type { TelemetryErrorCode, TelemetryWarningCode } from './errors.js';
export type {
  InstrumentationOptions,
  NormalizeRoute,
  Telemetry,
  TelemetryOptions,
} from './options.js';
export { getTelemetry, startTelemetry } from './internal/telemetry.js';
export { getRegistry, METRICS_REGISTRY_KEY } from './registry.js';
export { rootLogger as getLogger } from './internal/logger.js';
export { createRouteNormalizer, normalizePath } from './internal/route.js';
export type { RouteLabeler, RouteNormalizerOptions } from './internal/route.js';
export { createRedactor, redactText } from './internal/redact.js';
export type { Redactor } from './internal/redact.js';
export {
  HTTP_DURATION_METRIC,
  LOG_LINES_DROPPED_METRIC,
  SPANS_DROPPED_METRIC,
  SPANS_EXPORTED_METRIC,
} from './internal/metrics.js';
export { METRICS_SERVER_ROUTES } from './internal/metrics-server.js';
export { WARNING_TYPE } from './internal/warn.js';
