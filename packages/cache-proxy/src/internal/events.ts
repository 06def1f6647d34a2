// The order-event consumer, on @meskit/mq-reliable's: a queue bound to the MES's topic
// exchange, acked only once the index holds the event's effect; an event whose effect could not
// be applied (store or MES unavailable) waits in a retry queue and comes back until it can be
// (never dropped: the index would go stale); an unreadable one goes to the dead-letter queue;
// the index is filled afresh on every (re)connection, before any event is consumed.
import { randomUUID } from 'node:crypto';
import { MeskitError, statusOfRoutingKey } from '@meskit/kernel';
import { createConsumer } from '@meskit/mq-reliable';
import type { Registry } from 'prom-client';

export interface OrderEventBody {
  orderId: number;
  status: string;
  previousStatus: string | null;
}

export interface ConsumerOptions {
  url: string;
  exchange: string;
  /**
   * A durable (quorum) queue of this name, shared by the proxies of one Redis; undefined: an
   * exclusive per-process one (memory store).
   */
  queue: string | undefined;
  prefetch: number;
  /** Wait before an event whose effect could not be applied is tried again. */
  retryDelayMs: number;
  registry: Registry;
  /** Applies the event's effect; a rejection retries the event after `retryDelayMs`. */
  handle(event: OrderEventBody, routingKey: string, lsn: string | undefined): Promise<void>;
  /**
   * Runs on every (re)connection before any message is consumed: events may have been missed
   * while disconnected. A rejection is retried with backoff before consuming.
   */
  onConnected(): Promise<void>;
  onApplied(): void;
  onPoison(reason: string): void;
  onIgnored(): void;
  onFailed(error: Error): void;
}

export interface EventConsumer {
  readonly connected: boolean;
  close(): Promise<void>;
}

/** An event that cannot be read: dead-lettered, never retried. */
class PoisonEvent extends MeskitError<'POISON_EVENT'> {}

type Parsed = OrderEventBody | { poison: string } | { ignore: true };

/**
 * The MES's own events carry `status` and `previousStatus`; the CRM's (e.g. an approval) may
 * carry only `orderId`, the status then being the routing key's. Events that name no order id
 * (`order.closed` by externalId) concern no index and are acked.
 */
function parseEvent(content: Buffer, routingKey: string): Parsed {
  let body: unknown;
  try {
    body = JSON.parse(content.toString('utf8'));
  } catch {
    return { poison: 'the body is not JSON' };
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { poison: 'the body is not a JSON object' };
  }
  const { orderId, status, previousStatus } = body as Record<string, unknown>;
  if (orderId === undefined) return { ignore: true };
  if (typeof orderId !== 'number' || !Number.isSafeInteger(orderId) || orderId < 1) {
    return { poison: '"orderId" is not a positive integer' };
  }
  if (status !== undefined && typeof status !== 'string') {
    return { poison: '"status" is not a string' };
  }
  if (
    previousStatus !== null &&
    previousStatus !== undefined &&
    typeof previousStatus !== 'string'
  ) {
    return { poison: '"previousStatus" is not a string or null' };
  }
  const effective = status ?? statusOfRoutingKey(routingKey);
  if (effective === undefined) return { ignore: true };
  return { orderId, status: effective, previousStatus: previousStatus ?? null };
}

export function startConsumer(opts: ConsumerOptions): EventConsumer {
  const consumer = createConsumer({
    url: opts.url,
    queue: opts.queue ?? `meskit.cache-proxy.${randomUUID()}`,
    exclusive: opts.queue === undefined,
    bindings: [{ exchange: opts.exchange, pattern: 'order.*' }],
    prefetch: opts.prefetch,
    parse: 'buffer',
    retry: {
      delaysMs: [opts.retryDelayMs],
      afterLast: 'repeat',
      retryable: (error) => !(error instanceof PoisonEvent),
    },
    beforeConsume: opts.onConnected,
    connectionName: 'meskit-cache-proxy-events',
    registry: opts.registry,
    async handler(message) {
      const event = parseEvent(message.body as Buffer, message.routingKey);
      if ('poison' in event) {
        opts.onPoison(event.poison);
        throw new PoisonEvent('POISON_EVENT', `unreadable order event: ${event.poison}`);
      }
      if ('ignore' in event) {
        opts.onIgnored();
        return;
      }
      try {
        await opts.handle(event, message.routingKey, message.lsn);
      } catch (error) {
        opts.onFailed(error instanceof Error ? error : new Error(String(error)));
        throw error;
      }
      opts.onApplied();
    },
  });
  return {
    get connected() {
      return consumer.stats().consuming;
    },
    close: () => consumer.close(),
  };
}
