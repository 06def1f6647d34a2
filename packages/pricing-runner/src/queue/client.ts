// createPricingQueueClient: asks the pricing workers over RabbitMQ. Each request is published
// with confirms to the requests' queue, with this client's reply queue (exclusive, its own) in
// `replyTo` and a fresh `correlationId`; `price()` resolves with the first reply for it (a
// later copy, after a worker died between replying and acking, is counted and ignored) or
// rejects on an error reply or after `timeoutMs`.
import { randomUUID } from 'node:crypto';
import { MeskitError, optionChecks } from '@meskit/kernel';
import { createConsumer, createPublisher } from '@meskit/mq-reliable';
import type { Registry } from 'prom-client';
import { ALLOY_HEADER, QUEUE_DEFAULTS, type PricingReply, type QueuedQuote } from './protocol.js';

export type PricingQueueErrorCode = 'TIMEOUT' | 'NO_WORKERS' | 'REFUSED' | 'CLOSED' | string;

/** A quote that did not come back: the model's error code, or TIMEOUT, NO_WORKERS, CLOSED. */
export class PricingQueueError extends MeskitError<PricingQueueErrorCode> {}

export interface PricingQueueClientOptions {
  url: string | readonly string[];
  /** Default: `'meskit.pricing.requests'`. */
  queue?: string;
  /** Longest wait for a reply. Default: 60 000 ms. */
  timeoutMs?: number;
  registry?: Registry;
}

export interface PricingQueueClient {
  price(bytes: Uint8Array, opts?: { alloy?: string }): Promise<QueuedQuote>;
  stats(): { sent: number; answered: number; duplicates: number; pending: number };
  close(): Promise<void>;
}

interface Pending {
  resolve(quote: QueuedQuote): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

export function createPricingQueueClient(opts: PricingQueueClientOptions): PricingQueueClient {
  const check = optionChecks('createPricingQueueClient');
  check.object('options', opts, '{ url }');
  const queue = check.text('queue', opts.queue ?? QUEUE_DEFAULTS.queue);
  const timeoutMs = check.integer(
    'timeoutMs',
    opts.timeoutMs ?? QUEUE_DEFAULTS.timeoutMs,
    1,
    2_147_483_647,
  );
  const replyQueue = `meskit.pricing.replies.${randomUUID()}`;
  const pending = new Map<string, Pending>();
  const answered = new Set<string>();
  const counts = { sent: 0, answered: 0, duplicates: 0 };
  const registry = opts.registry ? { registry: opts.registry } : {};
  const publisher = createPublisher({
    url: opts.url,
    connectionName: 'meskit-pricing-client',
    ...registry,
  });
  const replies = createConsumer({
    url: opts.url,
    queue: replyQueue,
    exclusive: true,
    retry: { delaysMs: [] },
    connectionName: 'meskit-pricing-client',
    ...registry,
    async handler(message) {
      const id = message.raw.properties.correlationId as string | undefined;
      const waiting = id === undefined ? undefined : pending.get(id);
      if (!waiting) {
        if (id !== undefined && answered.has(id)) counts.duplicates += 1;
        return;
      }
      pending.delete(id!);
      answered.add(id!);
      clearTimeout(waiting.timer);
      counts.answered += 1;
      const reply = message.body as PricingReply;
      if (reply.ok) waiting.resolve(reply.quote);
      else waiting.reject(new PricingQueueError(reply.error.code, reply.error.message));
    },
  });
  let closing = false;

  async function price(bytes: Uint8Array, popts: { alloy?: string } = {}): Promise<QueuedQuote> {
    if (closing) throw new PricingQueueError('CLOSED', 'price() after close()');
    await replies.ready(timeoutMs);
    const correlationId = randomUUID();
    const result = new Promise<QueuedQuote>((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(correlationId);
        reject(
          new PricingQueueError(
            'TIMEOUT',
            `no pricing reply within ${timeoutMs} ms (are workers consuming ${queue}?)`,
          ),
        );
      }, timeoutMs);
      timer.unref();
      pending.set(correlationId, { resolve, reject, timer });
    });
    try {
      await publisher.publish(
        '',
        queue,
        Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
        {
          messageId: correlationId,
          correlationId,
          replyTo: replyQueue,
          timeoutMs,
          ...(popts.alloy !== undefined ? { headers: { [ALLOY_HEADER]: popts.alloy } } : {}),
        },
      );
      counts.sent += 1;
    } catch (error) {
      const waiting = pending.get(correlationId);
      pending.delete(correlationId);
      if (waiting) clearTimeout(waiting.timer);
      void result.catch(() => undefined);
      if ((error as { code?: string }).code === 'UNROUTABLE')
        throw new PricingQueueError(
          'NO_WORKERS',
          `no pricing worker has declared the queue ${queue}: start one (createPricingQueueWorker)`,
          { cause: error },
        );
      throw new PricingQueueError(
        'REFUSED',
        `the pricing request was not accepted by RabbitMQ: ${(error as Error).message}`,
        { cause: error },
      );
    }
    return result;
  }

  let closed: Promise<void> | undefined;
  return {
    price,
    stats: () => ({ ...counts, pending: pending.size }),
    close() {
      closed ??= (async () => {
        closing = true;
        for (const [id, waiting] of pending) {
          clearTimeout(waiting.timer);
          waiting.reject(
            new PricingQueueError('CLOSED', 'the client closed before the reply came'),
          );
          pending.delete(id);
        }
        await replies.close();
        await publisher.close();
      })();
      return closed;
    },
  };
}
