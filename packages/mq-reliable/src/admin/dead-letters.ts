// Operations on a consumer's queues without RabbitMQ's management plugin (AMQP only): their
// depth and consumers, the dead-letter queue read (and put back), and its messages replayed to
// where they were first published, with their original message-id.
import amqp, { type Channel, type ChannelModel, type Message } from 'amqplib';
import { amqpTls, MESSAGE_HEADERS, redactUrl, tlsFailure } from '@meskit/kernel';
import { CONSUMER_HEADERS, headersOf, messageIdOf, originOf } from '../consumer/headers.js';
import { waitQueueName } from '../consumer/topology.js';

export interface QueueDepth {
  queue: string;
  /** Undefined when the queue does not exist. */
  messages: number | undefined;
  consumers: number | undefined;
}

export interface QueueReport {
  queue: QueueDepth;
  retries: QueueDepth[];
  deadLetters: QueueDepth;
}

export interface DeadLetter {
  messageId: string;
  exchange: string;
  routingKey: string;
  errorCode: string | undefined;
  error: string | undefined;
  failedAt: string | undefined;
  attempts: number;
  /** The body as text, cut to 500 characters. */
  body: string;
}

async function connectTo(url: string, timeoutMs: number): Promise<ChannelModel> {
  // A bad TLS parameter or unreadable CA file: the kernel's TlsError, as it is.
  const tls = amqpTls(url);
  try {
    const connection = await amqp.connect(tls.url, {
      ...tls.options,
      timeout: timeoutMs,
      clientProperties: { connection_name: 'meskit-mq-admin' },
    });
    connection.on('error', () => undefined);
    return connection;
  } catch (error) {
    throw new Error(
      `cannot connect to RabbitMQ at ${redactUrl(url)}: ${(tlsFailure(error, url) ?? (error as Error)).message}`,
      {
        cause: error,
      },
    );
  }
}

/** A queue's depth; a missing queue closes the channel, so each check has its own. */
async function depth(connection: ChannelModel, queue: string): Promise<QueueDepth> {
  const channel = await connection.createChannel();
  channel.on('error', () => undefined);
  try {
    const ok = await channel.checkQueue(queue);
    return { queue, messages: ok.messageCount, consumers: ok.consumerCount };
  } catch {
    return { queue, messages: undefined, consumers: undefined };
  } finally {
    await channel.close().catch(() => undefined);
  }
}

/**
 * The queue's depth and consumers, its wait queues' (`<queue>.retry.N`, up to `retries`) and
 * its dead-letter queue's.
 */
export async function inspectQueues(opts: {
  url: string;
  queues: readonly string[];
  retries?: number;
  timeoutMs?: number;
}): Promise<QueueReport[]> {
  const connection = await connectTo(opts.url, opts.timeoutMs ?? 5_000);
  try {
    const reports: QueueReport[] = [];
    for (const queue of opts.queues) {
      const retries: QueueDepth[] = [];
      for (let n = 1; n <= (opts.retries ?? 3); n++) {
        const wait = await depth(connection, waitQueueName(queue, n));
        if (wait.messages === undefined) break;
        retries.push(wait);
      }
      reports.push({
        queue: await depth(connection, queue),
        retries,
        deadLetters: await depth(connection, `${queue}.dlq`),
      });
    }
    return reports;
  } finally {
    await connection.close().catch(() => undefined);
  }
}

function text(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  if (typeof value === 'number') return String(value);
  return undefined;
}

function describe(message: Message): DeadLetter {
  const h = headersOf(message);
  const origin = originOf(message);
  const death = h['x-death'] as { exchange?: string; 'routing-keys'?: string[] }[] | undefined;
  const body = message.content.toString('utf8');
  return {
    messageId: messageIdOf(message),
    // A message the broker dead-lettered itself (delivery limit) carries x-death instead.
    exchange: text(h[CONSUMER_HEADERS.exchange]) ?? death?.[0]?.exchange ?? origin.exchange,
    routingKey:
      text(h[CONSUMER_HEADERS.routingKey]) ??
      death?.[0]?.['routing-keys']?.[0] ??
      origin.routingKey,
    errorCode: text(h[CONSUMER_HEADERS.errorCode]) ?? (death ? 'DELIVERY_LIMIT' : undefined),
    error: text(h[CONSUMER_HEADERS.error]),
    failedAt: text(h[CONSUMER_HEADERS.failedAt]),
    attempts: Number(h[CONSUMER_HEADERS.attempt] ?? 0) || 0,
    body: body.length > 500 ? `${body.slice(0, 500)}...` : body,
  };
}

async function getAll(channel: Channel, queue: string, limit: number): Promise<Message[]> {
  const got: Message[] = [];
  while (got.length < limit) {
    const message = await channel.get(queue, { noAck: false });
    if (message === false) break;
    got.push(message);
  }
  return got;
}

/**
 * Up to `limit` messages of `<queue>.dlq`, read and put back (they stay in the dead-letter
 * queue). Throws when the dead-letter queue does not exist.
 */
export async function listDeadLetters(opts: {
  url: string;
  queue: string;
  limit?: number;
  timeoutMs?: number;
}): Promise<DeadLetter[]> {
  const connection = await connectTo(opts.url, opts.timeoutMs ?? 5_000);
  try {
    const channel = await connection.createChannel();
    const messages = await getAll(channel, `${opts.queue}.dlq`, opts.limit ?? 20);
    const letters = messages.map(describe);
    channel.nackAll(true);
    await channel.close();
    return letters;
  } finally {
    await connection.close().catch(() => undefined);
  }
}

export interface ReplayResult {
  replayed: DeadLetter[];
  /** Left in the dead-letter queue: the broker refused them back (no such exchange, unroutable). */
  failed: { letter: DeadLetter; reason: string }[];
}

/**
 * Publishes up to `limit` dead letters of `<queue>` (only `messageId` when given) again to the
 * exchange and routing key they were first published to, with their message-id and headers
 * (minus the failure's), confirmed; each is removed from the dead-letter queue only once its
 * copy is confirmed. An inbox then still recognises a message that had its effect after all.
 */
export async function replayDeadLetters(opts: {
  url: string;
  queue: string;
  limit?: number;
  messageId?: string;
  timeoutMs?: number;
}): Promise<ReplayResult> {
  const connection = await connectTo(opts.url, opts.timeoutMs ?? 5_000);
  const result: ReplayResult = { replayed: [], failed: [] };
  try {
    const reader = await connection.createChannel();
    const publisher = await connection.createConfirmChannel();
    publisher.on('error', () => undefined);
    const returned = new Set<string>();
    publisher.on('return', (m: Message) => returned.add(messageIdOf(m)));
    const messages = await getAll(
      reader,
      `${opts.queue}.dlq`,
      opts.messageId ? 10_000 : (opts.limit ?? 100),
    );
    for (const message of messages) {
      const letter = describe(message);
      if (opts.messageId !== undefined && letter.messageId !== opts.messageId) {
        reader.nack(message, false, true);
        continue;
      }
      const headers = Object.fromEntries(
        Object.entries(headersOf(message)).filter(
          ([k]) =>
            !k.startsWith('x-meskit-error') &&
            k !== CONSUMER_HEADERS.attempt &&
            k !== CONSUMER_HEADERS.failedAt &&
            k !== CONSUMER_HEADERS.queue &&
            !k.startsWith('x-death') &&
            !k.startsWith('x-first-death') &&
            !k.startsWith('x-last-death'),
        ),
      );
      try {
        await new Promise<void>((resolve, reject) => {
          publisher.publish(
            letter.exchange,
            letter.routingKey,
            message.content,
            {
              persistent: true,
              mandatory: true,
              messageId: letter.messageId,
              headers: {
                ...headers,
                [MESSAGE_HEADERS.messageId]: letter.messageId,
                'x-meskit-replayed-at': new Date().toISOString(),
              },
              ...(message.properties.contentType
                ? { contentType: message.properties.contentType as string }
                : {}),
            },
            (error) => (error ? reject(new Error('the broker refused it (nack)')) : resolve()),
          );
        });
        if (returned.has(letter.messageId))
          throw new Error(`no queue is bound for ${letter.routingKey} on ${letter.exchange}`);
        reader.ack(message);
        result.replayed.push(letter);
      } catch (error) {
        result.failed.push({ letter, reason: (error as Error).message });
        try {
          reader.nack(message, false, true);
        } catch {
          // The reader's channel died: the broker puts the message back by itself.
        }
        if ((error as Error).message.includes('closed')) break;
      }
    }
    await reader.close().catch(() => undefined);
    return result;
  } finally {
    await connection.close().catch(() => undefined);
  }
}
