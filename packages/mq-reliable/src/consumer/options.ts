// The options of createConsumer: types, defaults and validation.
import { optionChecks } from '@meskit/kernel';
import {
  CONNECTION_DEFAULTS,
  MAX_TIMER_MS,
  resolveConnectionOptions,
  type ConnectionOptions,
  type ResolvedConnectionOptions,
} from '../internal/connection-options.js';
import type { Registry } from 'prom-client';
import type { Topology } from '../internal/topology.js';
import type { ConsumedMessage, Handler, Inbox } from './types.js';

export interface ConsumerOptions<T = unknown> extends ConnectionOptions {
  /** The queue to consume; declared with its wait queues and dead-letter queue. Required. */
  queue: string;
  /** Bindings of the queue: `{ exchange, pattern }`; the exchanges are declared. Default: none. */
  bindings?: readonly { exchange: string; pattern?: string }[];
  /** Further topology declared on every connection. Default: none. */
  topology?: Topology;
  /** `'quorum'` (replicated, counts deliveries) or `'classic'`. Default: `'quorum'`. */
  queueType?: 'quorum' | 'classic';
  /**
   * The queue belongs to this consumer's connection and goes with it (a classic exclusive
   * queue; its wait and dead-letter queues expire after an hour unused). For a consumer that
   * rebuilds its state on every connection (`beforeConsume`) and must not share a queue.
   * Default: false.
   */
  exclusive?: boolean;
  /**
   * Runs on every (re)connection, after the topology is declared and before any message is
   * consumed (messages may have been missed while disconnected). A rejection drops the
   * channel; it is tried again on the next one.
   */
  beforeConsume?: () => Promise<void>;
  /** Called per message; resolve to ack, throw to retry. Required. */
  handler: Handler<T>;
  /** `'json'` (default), `'text'`, `'buffer'`, or a function; a throw sends the message to the DLQ. */
  parse?: 'json' | 'text' | 'buffer' | ((content: Buffer) => T);
  /** Unacked deliveries at once (also the handlers running at once). Default: 16. */
  prefetch?: number;
  /**
   * The key whose messages are handled one at a time, in the order they were delivered (an
   * order id: its status changes must not overtake each other); `undefined` for a message
   * with none. Messages of different keys still run side by side up to `prefetch`. Order holds
   * among first deliveries: a message that failed comes back from its wait queue after its
   * delay, behind what was delivered meanwhile. A throw fails the message like a handler
   * error. Default: none (every delivery runs at once).
   */
  orderingKey?: (message: ConsumedMessage<T>) => string | undefined;
  retry?: {
    /**
     * The wait before each retry, one wait queue per entry: `[1000, 10000, 60000]` retries
     * three times. `[]`: a failure goes to the dead-letter queue at once. Default: 1 s, 10 s, 60 s.
     */
    delaysMs?: readonly number[];
    /**
     * Deliveries of one copy after which a quorum queue dead-letters it by itself (a handler
     * that crashes the process every time). Default: 20.
     */
    deliveryLimit?: number;
    /**
     * Whether a handler's error is worth a retry; `false` sends the message to the
     * dead-letter queue at once (a malformed order, an impossible transition). Default:
     * every error is retried.
     */
    retryable?: (error: unknown) => boolean;
    /**
     * After the last delay: `'dead-letter'` (default), or `'repeat'` the last delay until the
     * handler succeeds (an effect that must happen eventually, such as a cache invalidation;
     * errors `retryable` refuses still go to the dead-letter queue).
     */
    afterLast?: 'dead-letter' | 'repeat';
  };
  /** The dead-letter queue. Default: `<queue>.dlq`. */
  deadLetterQueue?: string;
  /** Effect-once per message-id: `pgInbox()` or `redisInbox()`. Default: none (at-least-once). */
  inbox?: Inbox;
  /** Longest close() waits for running handlers. Default: 30 000 ms. */
  shutdownTimeoutMs?: number;
  /** Longest wait for a retry's or dead-letter's confirm. Default: 10 000 ms. */
  confirmTimeoutMs?: number;
  /** Default: `'meskit-mq-consumer:<queue>'`. */
  connectionName?: string;
  registry?: Registry;
}

export const CONSUMER_DEFAULTS = {
  queueType: 'quorum',
  parse: 'json',
  prefetch: 16,
  delaysMs: [1_000, 10_000, 60_000],
  deliveryLimit: 20,
  shutdownTimeoutMs: 30_000,
  confirmTimeoutMs: 10_000,
  ...CONNECTION_DEFAULTS,
} as const;

export interface ResolvedConsumerOptions extends ResolvedConnectionOptions {
  queue: string;
  queueType: 'quorum' | 'classic';
  exclusive: boolean;
  prefetch: number;
  afterLast: 'dead-letter' | 'repeat';
  delaysMs: readonly number[];
  deliveryLimit: number;
  deadLetterQueue: string;
  shutdownTimeoutMs: number;
  confirmTimeoutMs: number;
}

const check = optionChecks('createConsumer');

export function resolveConsumerOptions<T>(opts: ConsumerOptions<T>): ResolvedConsumerOptions {
  check.object('options', opts, '{ url, queue, handler }');
  const queue = check.text('queue', opts.queue);
  const connection = resolveConnectionOptions(check, opts, `meskit-mq-consumer:${queue}`);
  if (typeof opts.handler !== 'function')
    throw check.invalid('handler', 'must be an async function (message, ctx) => void');
  const parse = opts.parse ?? CONSUMER_DEFAULTS.parse;
  if (typeof parse !== 'function') check.oneOf('parse', parse, ['json', 'text', 'buffer']);
  const retry = opts.retry ?? {};
  check.object('retry', retry, '{ delaysMs: [1000, 10000] }');
  const delaysMs = retry.delaysMs ?? CONSUMER_DEFAULTS.delaysMs;
  if (!Array.isArray(delaysMs) || delaysMs.length > 20)
    throw check.invalid('retry.delaysMs', 'must be an array of at most 20 delays in ms');
  delaysMs.forEach((d, i) => check.integer(`retry.delaysMs[${i}]`, d, 1, MAX_TIMER_MS));
  if (opts.beforeConsume !== undefined && typeof opts.beforeConsume !== 'function')
    throw check.invalid('beforeConsume', 'must be an async function () => void');
  const exclusive = check.boolean('exclusive', opts.exclusive ?? false);
  if (exclusive && opts.queueType === 'quorum')
    throw check.invalid(
      'queueType',
      'must be "classic" for an exclusive queue (quorum queues cannot be exclusive)',
    );
  const afterLast = check.oneOf('retry.afterLast', retry.afterLast ?? 'dead-letter', [
    'dead-letter',
    'repeat',
  ]);
  if (afterLast === 'repeat' && delaysMs.length === 0)
    throw check.invalid('retry.afterLast', '"repeat" needs at least one delay in retry.delaysMs');
  if (retry.retryable !== undefined && typeof retry.retryable !== 'function')
    throw check.invalid('retry.retryable', 'must be a function (error) => boolean');
  if (opts.orderingKey !== undefined && typeof opts.orderingKey !== 'function')
    throw check.invalid('orderingKey', 'must be a function (message) => string | undefined');
  if (opts.inbox !== undefined && typeof opts.inbox.run !== 'function')
    throw check.invalid('inbox', 'must be pgInbox(...) or redisInbox(...)');
  const int = (
    name: string,
    value: number | undefined,
    fallback: number,
    min: number,
    max: number,
  ) => check.integer(name, value ?? fallback, min, max);
  return {
    ...connection,
    queue,
    queueType: exclusive
      ? 'classic'
      : check.oneOf('queueType', opts.queueType ?? CONSUMER_DEFAULTS.queueType, [
          'quorum',
          'classic',
        ]),
    exclusive,
    afterLast,
    prefetch: int('prefetch', opts.prefetch, CONSUMER_DEFAULTS.prefetch, 1, 65_535),
    delaysMs: [...delaysMs],
    deliveryLimit: int(
      'retry.deliveryLimit',
      retry.deliveryLimit,
      CONSUMER_DEFAULTS.deliveryLimit,
      1,
      10_000,
    ),
    deadLetterQueue: check.text('deadLetterQueue', opts.deadLetterQueue ?? `${queue}.dlq`),
    shutdownTimeoutMs: int(
      'shutdownTimeoutMs',
      opts.shutdownTimeoutMs,
      CONSUMER_DEFAULTS.shutdownTimeoutMs,
      0,
      MAX_TIMER_MS,
    ),
    confirmTimeoutMs: int(
      'confirmTimeoutMs',
      opts.confirmTimeoutMs,
      CONSUMER_DEFAULTS.confirmTimeoutMs,
      1,
      MAX_TIMER_MS,
    ),
  };
}
