export { PublishError } from './errors.js';
export type { PublishErrorCode } from './errors.js';
export { DEFAULTS } from './options.js';
export type { PublisherOptions } from './options.js';
export { createPublisher, PUBLISHER_METRICS } from './publisher.js';
export type { PublishOptions, PublishResult, Publisher, PublisherStats } from './types.js';
export type { BindingSpec, ExchangeSpec, QueueSpec, Topology } from './internal/topology.js';
export type { PoolLike, PooledClient, Queryable } from './internal/sql.js';
export { createOutbox } from './outbox/outbox.js';
export type { EnqueueOptions, Outbox, OutboxStats } from './outbox/outbox.js';
export { OUTBOX_DEFAULTS } from './outbox/options.js';
export type { OutboxOptions } from './outbox/options.js';
export type { RoundResult } from './outbox/relay.js';
export { inboxSchemaSql, outboxSchemaSql } from './outbox/schema.js';
export { OUTBOX_METRICS } from './internal/metrics.js';
export { InvalidOptionError } from '@meskit/kernel';
export { createConsumer } from './consumer/consumer.js';
export { CONSUMER_DEFAULTS } from './consumer/options.js';
export type { ConsumerOptions } from './consumer/options.js';
export type {
  ConsumedMessage,
  ConsumeOutcome,
  Consumer,
  ConsumerStats,
  Handler,
  HandlerContext,
  Inbox,
} from './consumer/types.js';
export { InboxBusyError, pgInbox, redisInbox } from './consumer/inbox.js';
export type { PgInbox, PgInboxOptions, RedisInboxOptions, RedisLike } from './consumer/inbox.js';
export { CONSUMER_HEADERS } from './consumer/headers.js';
export { waitQueueName } from './consumer/topology.js';
export { CONSUMER_METRICS } from './internal/metrics.js';
export { inspectQueues, listDeadLetters, replayDeadLetters } from './admin/dead-letters.js';
export type { DeadLetter, QueueDepth, QueueReport, ReplayResult } from './admin/dead-letters.js';
export { backlog as outboxBacklog } from './outbox/relay.js';
