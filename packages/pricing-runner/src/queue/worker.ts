// createPricingQueueWorker: pricing across hosts on RabbitMQ. Any number of workers, on any
// number of hosts, consume one quorum queue of requests (competing consumers, a prefetch each);
// each prices with its own runner and publishes the reply, confirmed, to the request's
// `replyTo` with its `correlationId`, then acks. A worker that dies mid-job leaves its requests
// unacked: the broker hands them to another worker. A model that cannot be priced gets an error
// reply (the requester hears why); a transient failure (the pool full, a timeout) is retried
// after 1 s and 5 s, then dead-lettered.
import { MeskitError, optionChecks } from '@meskit/kernel';
import {
  createConsumer,
  createPublisher,
  type Consumer,
  type ConsumerStats,
} from '@meskit/mq-reliable';
import type { Registry } from 'prom-client';
import { MeshError, PriceModelError } from '../errors.js';
import type { PricingQuote, PricingRunner, QuoteOptions } from '../runner.js';
import { ALLOY_HEADER, QUEUE_DEFAULTS, type PricingReply } from './protocol.js';

export interface PricingQueueWorkerOptions {
  /** RabbitMQ URL, or several (a cluster). Required. */
  url: string | readonly string[];
  /** Prices each request: `createPricingRunner(...)`. The worker does not close it. Required. */
  runner: Pick<PricingRunner<PricingQuote>, 'quote'>;
  /** Default: `'meskit.pricing.requests'`. */
  queue?: string;
  /** Requests taken at once. Default: 2 (keep it near the runner's threads). */
  prefetch?: number;
  registry?: Registry;
}

export interface PricingQueueWorker {
  ready(timeoutMs?: number): Promise<void>;
  stats(): { consumer: ConsumerStats; replied: number; orphaned: number };
  /** Stops taking requests, finishes those in hand (their replies confirmed), then closes. */
  close(): Promise<void>;
}

/** A request without `replyTo`: nobody could hear its answer. Dead-lettered. */
class NoReplyTo extends MeskitError<'NO_REPLY_TO'> {}

function isPermanent(error: unknown): boolean {
  return error instanceof NoReplyTo;
}

export function createPricingQueueWorker(opts: PricingQueueWorkerOptions): PricingQueueWorker {
  const check = optionChecks('createPricingQueueWorker');
  check.object('options', opts, '{ url, runner }');
  if (!opts.runner || typeof opts.runner.quote !== 'function')
    throw check.invalid('runner', 'must be a pricing runner (createPricingRunner())');
  const queue = check.text('queue', opts.queue ?? QUEUE_DEFAULTS.queue);
  const prefetch = check.integer('prefetch', opts.prefetch ?? QUEUE_DEFAULTS.prefetch, 1, 1_000);
  const publisher = createPublisher({
    url: opts.url,
    connectionName: 'meskit-pricing-worker',
    ...(opts.registry ? { registry: opts.registry } : {}),
  });
  let replied = 0;
  let orphaned = 0;
  const consumer: Consumer = createConsumer({
    url: opts.url,
    queue,
    prefetch,
    parse: 'buffer',
    connectionName: 'meskit-pricing-worker',
    retry: { delaysMs: [1_000, 5_000], retryable: (error) => !isPermanent(error) },
    ...(opts.registry ? { registry: opts.registry } : {}),
    async handler(message) {
      const { replyTo, correlationId } = message.raw.properties as {
        replyTo?: string;
        correlationId?: string;
      };
      if (!replyTo)
        throw new NoReplyTo('NO_REPLY_TO', `pricing request ${message.messageId} has no replyTo`);
      const alloy = message.headers[ALLOY_HEADER];
      const quoteOpts: QuoteOptions = typeof alloy === 'string' ? { alloy } : {};
      let reply: PricingReply;
      try {
        const body = message.body as Buffer;
        // A copy the runner may hand to a worker thread (transferring detaches it).
        const bytes = new Uint8Array(body.length);
        bytes.set(body);
        reply = { ok: true, quote: await opts.runner.quote(bytes, quoteOpts) };
      } catch (error) {
        // The model's own fault: answered. Anything else is retried.
        if (!(error instanceof MeshError || error instanceof PriceModelError)) throw error;
        reply = { ok: false, error: { code: error.code, message: error.message } };
      }
      try {
        await publisher.publish('', replyTo, reply, {
          // One reply per request, also when a redelivered request is priced again.
          messageId: `reply:${message.messageId}`,
          ...(correlationId !== undefined ? { correlationId } : {}),
        });
        replied += 1;
      } catch (error) {
        // The requester is gone (its reply queue with it): nobody to answer.
        if ((error as { code?: string }).code !== 'UNROUTABLE') throw error;
        orphaned += 1;
      }
    },
  });
  let closed: Promise<void> | undefined;
  return {
    ready: (timeoutMs) => consumer.ready(timeoutMs),
    stats: () => ({ consumer: consumer.stats(), replied, orphaned }),
    close() {
      closed ??= (async () => {
        await consumer.close();
        await publisher.close();
      })();
      return closed;
    },
  };
}
