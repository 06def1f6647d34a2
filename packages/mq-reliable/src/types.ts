// The publisher's public types.
import type { PublishErrorCode } from './errors.js';

export interface PublishOptions {
  /** The idempotency key, also the AMQP `messageId`. Default: a random UUID. */
  messageId?: string;
  /** Extra headers (`traceparent`, `x-meskit-lsn`, ...). `message-id` is always set. */
  headers?: Record<string, unknown>;
  /** Fail with `UNROUTABLE` when no queue takes the message. Default: true. */
  mandatory?: boolean;
  /** This publish's own bound. Default: the publisher's `timeoutMs`. */
  timeoutMs?: number;
  /** Default: `'application/json'` for an object body, none for bytes or a string. */
  contentType?: string;
  /** AMQP `correlationId` (request/reply). Default: none. */
  correlationId?: string;
  /** AMQP `replyTo`: the queue a reply goes to. Default: none. */
  replyTo?: string;
}

export interface PublishResult {
  messageId: string;
  /** How many times it was sent (more than 1: its channel died before the confirm). */
  attempts: number;
}

export interface PublisherStats {
  connected: boolean;
  /** The broker of the live channel, password hidden; undefined while disconnected. */
  broker: string | undefined;
  /** Published and not yet settled (buffered or in flight). */
  unconfirmed: number;
  unconfirmedBytes: number;
  outcomes: Record<'confirmed' | Lowercase<PublishErrorCode>, number>;
  resent: number;
  reconnects: number;
}

export interface Publisher {
  /**
   * Resolves once the broker confirmed the message; rejects with `PublishError`. `body`: bytes
   * or a string as they are, anything else as JSON.
   */
  publish(
    exchange: string,
    routingKey: string,
    body: unknown,
    opts?: PublishOptions,
  ): Promise<PublishResult>;
  stats(): PublisherStats;
  /** Resolves once a channel is up (the topology declared), or rejects after `timeoutMs`. */
  ready(timeoutMs?: number): Promise<void>;
  /**
   * Stops accepting publishes, waits for those outstanding to settle (each within its
   * timeout), then closes the connection. Safe to call twice.
   */
  close(): Promise<void>;
}
