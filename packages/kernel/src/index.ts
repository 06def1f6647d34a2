export {
  describeError,
  InvalidOptionError,
  ListenError,
  MeskitError,
  redactUrl,
} from './errors.js';
export type { InvalidOptionDetails } from './errors.js';
export { optionChecks } from './options.js';
export type { OptionChecks } from './options.js';
export { createWarnOnce, emitWarning, WARNING_TYPE } from './warnings.js';
export type { WarnOnce, WarnOnceOptions } from './warnings.js';
export { getRegistry, METRICS_REGISTRY_KEY, reuseMetric } from './metrics-registry.js';
export { boundedRedis, quitRedis, redisDown } from './redis.js';
export type { BoundedCall, QuittableRedis, RedisStatus } from './redis.js';
export {
  describeRedisTarget,
  openRedis,
  RedisUrlError,
  redisTarget,
  redisUrlOption,
  replicatedRedis,
} from './redis-url.js';
export type { RedisClientSettings, RedisHost, RedisTarget } from './redis-url.js';
export { httpUrl, listen } from './listen.js';
export type { ListenOptions } from './listen.js';
export {
  isOrderStatus,
  MESSAGE_HEADERS,
  ORDER_EVENTS_EXCHANGE,
  ORDER_STATUSES,
  precedes,
  routingKeyFor,
  statusOfRoutingKey,
  TAKE,
  TAKEN_STATUSES,
} from './mes-contract.js';
export type { OrderEvent, OrderStatus } from './mes-contract.js';
export { createTokenTracker, formatLsn, laterLsn, parseLsn } from './lsn.js';
export type { TokenTracker } from './lsn.js';
export { certificateExpiry, TlsError, tlsFailure, warnOnTlsFailure } from './tls.js';
export type {
  CertificateExpiry,
  ClientTlsOptions,
  ErrorEmitter,
  TlsErrorCode,
  TlsServer,
  TlsSettings,
} from './tls.js';
export { amqpTls, postgresTls, redisTls, tlsSettings } from './tls-urls.js';
