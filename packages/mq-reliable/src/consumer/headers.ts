// The headers a consumer reads (attempt, delivery count, message id) and those it writes on a
// retried or dead-lettered copy (the error, where it came from).
import { createHash } from 'node:crypto';
import { describeError, MESSAGE_HEADERS } from '@meskit/kernel';
import type { Message } from 'amqplib';

/** Headers of meskit's retries and dead-letters. */
export const CONSUMER_HEADERS = {
  attempt: 'x-meskit-attempt',
  error: 'x-meskit-error',
  errorCode: 'x-meskit-error-code',
  failedAt: 'x-meskit-failed-at',
  queue: 'x-meskit-original-queue',
  exchange: 'x-meskit-original-exchange',
  routingKey: 'x-meskit-original-routing-key',
} as const;

const BROKER_HEADERS = [
  'x-death',
  'x-first-death-exchange',
  'x-first-death-queue',
  'x-first-death-reason',
  'x-delivery-count',
  'x-last-death-exchange',
  'x-last-death-queue',
  'x-last-death-reason',
];

export function headersOf(message: Message): Record<string, unknown> {
  return (message.properties.headers ?? {}) as Record<string, unknown>;
}

function text(value: unknown): string | undefined {
  if (typeof value === 'string' && value !== '') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  return undefined;
}

/** The idempotency key: messageId, else the message-id header, else a digest of the message. */
export function messageIdOf(message: Message): string {
  const id =
    text(message.properties.messageId) ?? text(headersOf(message)[MESSAGE_HEADERS.messageId]);
  if (id !== undefined) return id;
  const digest = createHash('sha256')
    .update(message.fields.exchange)
    .update('\0')
    .update(message.fields.routingKey)
    .update('\0')
    .update(message.content)
    .digest('hex');
  return `sha256:${digest}`;
}

export function attemptOf(message: Message): number {
  const value = Number(headersOf(message)[CONSUMER_HEADERS.attempt] ?? 0);
  return Number.isInteger(value) && value >= 0 ? value : 0;
}

export function deliveryCountOf(message: Message): number {
  const value = Number(headersOf(message)['x-delivery-count'] ?? 0);
  return Number.isFinite(value) ? value : 0;
}

/** The exchange and routing key the message was first published to (before any retry). */
export function originOf(message: Message): { exchange: string; routingKey: string } {
  const h = headersOf(message);
  return {
    exchange: text(h[CONSUMER_HEADERS.exchange]) ?? message.fields.exchange,
    routingKey: text(h[CONSUMER_HEADERS.routingKey]) ?? message.fields.routingKey,
  };
}

/** The headers of a copy sent to a wait queue or the dead-letter queue. */
export function failureHeaders(
  message: Message,
  queue: string,
  error: unknown,
  attempt: number,
): Record<string, unknown> {
  const kept = Object.fromEntries(
    Object.entries(headersOf(message)).filter(([k]) => !BROKER_HEADERS.includes(k)),
  );
  const origin = originOf(message);
  const code = (error as { code?: unknown } | undefined)?.code;
  return {
    ...kept,
    [MESSAGE_HEADERS.messageId]: messageIdOf(message),
    [CONSUMER_HEADERS.attempt]: attempt,
    [CONSUMER_HEADERS.error]: describeError(error).slice(0, 1_000),
    [CONSUMER_HEADERS.errorCode]:
      typeof code === 'string' ? code : error instanceof Error ? error.name : 'Error',
    [CONSUMER_HEADERS.failedAt]: new Date().toISOString(),
    [CONSUMER_HEADERS.queue]: queue,
    [CONSUMER_HEADERS.exchange]: origin.exchange,
    [CONSUMER_HEADERS.routingKey]: origin.routingKey,
  };
}
