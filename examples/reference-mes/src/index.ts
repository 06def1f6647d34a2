export { createReferenceMes, DEFAULTS, MESSAGING_MODES } from './mes.js';
export type { MesStats, MessagingMode, ReferenceMes, ReferenceMesOptions } from './mes.js';
export type { LogLevel } from './internal/log.js';
export { MES_ROUTES } from './internal/http.js';
export { PRICING_MODES, RUNNER_DEFAULT_ALLOY } from './internal/pricing.js';
export type { MesPricingRunnerOptions, PricingMode } from './internal/pricing.js';
export {
  migrate,
  ORDER_STATUSES,
  OPERATOR_NAMES,
  TAKEN_STATUSES,
  isOrderStatus,
} from './schema.js';
export type { Operator, Order, OrderSource, OrderStatus } from './schema.js';
export {
  seedOrders,
  SEED_B2C_SHARE,
  SEED_HISTORY_DAYS,
  SEED_POLYGONS,
  SEED_STATUS_WEIGHTS,
} from './seed.js';
export type { SeedOptions, SeedResult } from './seed.js';
export { simulateTraffic, SIMULATION_DEFAULTS, summarise } from './simulate.js';
export type { LatencySummary, SimulationOptions, SimulationReport } from './simulate.js';
export { legacyPrice, LEGACY_PRICING, measureMesh } from './pricing/legacy.js';
export type { LegacyPricingOptions, LegacyQuote } from './pricing/legacy.js';
export { parseModel } from './pricing/parse.js';
export type { ModelFormat, ParsedModel } from './pricing/parse.js';
export {
  encodeAsciiStl,
  encodeBinaryStl,
  encodeObj,
  generateCubeMesh,
  generateCubeStl,
  generateRingMesh,
  generateRingStl,
} from './models.js';
export type { CubeOptions, Mesh, RingOptions } from './models.js';
export { CONSUMED_ROUTING_KEYS, routingKeyFor } from './events.js';
export type { OrderEvent } from './events.js';
export { API_ERROR_CODES, ApiError, MesError } from './errors.js';
export type { ApiErrorCode, MesErrorCode } from './errors.js';
