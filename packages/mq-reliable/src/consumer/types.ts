// The consumer's public types.
import type { ConsumeMessage } from 'amqplib';
import type { Queryable } from '../internal/sql.js';

export interface ConsumedMessage<T = unknown> {
  /** The parsed body (JSON by default). */
  body: T;
  /** The idempotency key: the AMQP messageId, else the `message-id` header, else a digest. */
  messageId: string;
  exchange: string;
  routingKey: string;
  headers: Record<string, unknown>;
  /** The read-your-writes token (`x-meskit-lsn`), when the producer set one. */
  lsn: string | undefined;
  /** Retries through the wait queues so far (0 on the first delivery). */
  attempt: number;
  /** The broker's delivery count of this copy (quorum queues; 0 on the first delivery). */
  deliveryCount: number;
  redelivered: boolean;
  /** The message as amqplib gave it. */
  raw: ConsumeMessage;
}

export interface HandlerContext {
  /** With a PostgreSQL inbox: the client of the transaction that records the message. */
  db: Queryable | undefined;
  /** Aborted when close() gives up waiting for the handler. */
  signal: AbortSignal;
}

export type Handler<T> = (message: ConsumedMessage<T>, ctx: HandlerContext) => Promise<void>;

/**
 * Records which messages had their effect. `run` calls `effect` unless `messageId` was
 * recorded before (then it resolves `{ duplicate: true }` without calling it).
 */
export interface Inbox {
  run(
    messageId: string,
    effect: (db: Queryable | undefined) => Promise<void>,
  ): Promise<{ duplicate: boolean }>;
}

/** How a delivery ended. */
export type ConsumeOutcome =
  'acked' | 'duplicate' | 'retried' | 'dead_lettered' | 'unparseable' | 'requeued';

export interface ConsumerStats {
  consuming: boolean;
  inFlight: number;
  outcomes: Record<ConsumeOutcome, number>;
  reconnects: number;
}

export interface Consumer {
  stats(): ConsumerStats;
  /** Resolves once the consumer is registered on a channel, or rejects after `timeoutMs`. */
  ready(timeoutMs?: number): Promise<void>;
  /**
   * Graceful shutdown: stops taking deliveries, waits for in-flight handlers (within
   * `shutdownTimeoutMs`), then closes; a message not acked by then goes back to the queue.
   * Safe to call twice.
   */
  close(): Promise<void>;
}
