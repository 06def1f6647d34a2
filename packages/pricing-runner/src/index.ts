export { InvalidOptionError, ListenError } from '@meskit/kernel';
export { analyzeMesh, DEFAULTS } from './analyze.js';
export { detectFormat } from './internal/detect-format.js';
export type { AnalyzeOptions, BoundingBox, MeshAnalysis, MeshFormat } from './analyze.js';
export { MeshError, PriceModelError, PricingPoolError } from './errors.js';
export type { MeshErrorCode, PricingPoolErrorCode } from './errors.js';
export { releaseScratch, retainedScratchBytes, SCRATCH_CAP_BYTES } from './internal/scratch.js';
export { createPricingPool, POOL_DEFAULTS } from './pool.js';
export type {
  OffloadOptions,
  PricingPool,
  PricingPoolOptions,
  PricingPoolStats,
  PricingResult,
  SubmitOptions,
} from './pool.js';
export { DEFAULT_PRICE_MODEL, priceMesh, validatePriceModel } from './price-model.js';
export type {
  AlloyConfig,
  PriceItem,
  PriceModel,
  PriceOptions,
  PriceQuote,
} from './price-model.js';
export { createPricingRunner, RUNNER_DEFAULTS, RUNNER_METRICS } from './runner.js';
export type {
  CacheOptions,
  OffloadQuote,
  PricingQuote,
  PricingRunner,
  PricingRunnerOptions,
  PricingRunnerStats,
  QuoteOptions,
} from './runner.js';
export { createPricingServer, PRICING_SERVER_ROUTES, SERVER_DEFAULTS } from './server.js';
export type { PricingServer, PricingServerOptions } from './server.js';
export { createPricingQueueWorker } from './queue/worker.js';
export type { PricingQueueWorker, PricingQueueWorkerOptions } from './queue/worker.js';
export { createPricingQueueClient, PricingQueueError } from './queue/client.js';
export type {
  PricingQueueClient,
  PricingQueueClientOptions,
  PricingQueueErrorCode,
} from './queue/client.js';
export { QUEUE_DEFAULTS } from './queue/protocol.js';
export type { PricingReply, QueuedQuote } from './queue/protocol.js';
