export { PublishError } from './errors.js';
export type { PublishErrorCode } from './errors.js';
export { DEFAULTS } from './options.js';
export type { PublisherOptions } from './options.js';
export { createPublisher, PUBLISHER_METRICS } from './publisher.js';
export type { PublishOptions, PublishResult, Publisher, PublisherStats } from './publisher.js';
export type { BindingSpec, ExchangeSpec, QueueSpec, Topology } from './internal/topology.js';
export { InvalidOptionError } from '@meskit/kernel';
