export { createRouter } from './router.js';
export { ROUTER_DEFAULTS } from './options.js';
export type { RouterOptions, ServerConfig } from './options.js';
export type {
  Queryable,
  RouteDecision,
  RouteReason,
  Router,
  RouterStats,
  ServerStatus,
} from './types.js';
export { DbRouterError } from './errors.js';
export type { DbRouterErrorCode } from './errors.js';
export { formatLsn, parseLsn } from './lsn.js';
export { ROUTER_METRICS } from './internal/metrics.js';
export { classifyText } from './internal/classify.js';
export { InvalidOptionError } from '@meskit/kernel';
