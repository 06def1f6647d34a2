export { analyzeMesh, detectFormat, DEFAULTS } from './analyze.js';
export type { AnalyzeOptions, BoundingBox, MeshAnalysis, MeshFormat } from './analyze.js';
export { MeshError, PriceModelError } from './errors.js';
export { releaseScratch, retainedScratchBytes, SCRATCH_CAP_BYTES } from './internal/scratch.js';
export type { MeshErrorCode } from './errors.js';
export { createPricingPool, POOL_DEFAULTS, PricingPoolError } from './pool.js';
export type {
  PricingPool,
  PricingPoolErrorCode,
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
