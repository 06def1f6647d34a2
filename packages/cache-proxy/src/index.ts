export { CacheProxyError } from './errors.js';
export type { CacheProxyErrorCode } from './errors.js';
export { CACHE_PROXY_METRICS, createCacheProxy, DEFAULTS } from './proxy.js';
export type { CacheProxy, CacheProxyOptions, CacheProxyStats } from './proxy.js';
