export { CacheProxyError } from './errors.js';
export type { CacheProxyErrorCode } from './errors.js';
export { InvalidOptionError, ListenError } from '@meskit/kernel';
export { CACHE_PROXY_METRICS, CACHE_PROXY_ROUTES, createCacheProxy } from './proxy.js';
export type { CacheProxy, CacheProxyStats } from './proxy.js';
export { DEFAULTS } from './options.js';
export type { CacheProxyOptions } from './options.js';
