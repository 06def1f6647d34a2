// RabbitMQ, the way the legacy MES uses it.
//
// LEGACY (deliberate), CASE.md problem 5:
// - publishes go to a plain channel: no publisher confirms, the return value of publish()
//   (false = the write buffer is full) is ignored, so a publish can vanish silently;
// - the consumer runs with noAck: true (auto-ack): RabbitMQ forgets a message the moment it
//   is delivered, so a crash (or a failure) while processing loses it for good;
// - with auto-ack there is no prefetch limit: the broker pushes the whole queue into this
//   process's memory, where it waits in an unbounded in-process backlog;
// - when the broker goes away the MES logs it and carries on without messaging: it never
//   reconnects (the HTTP API keeps working; events are lost until a restart).
// meskit's mq-reliable replaces all of this; here it stays broken on purpose.
import { randomUUID } from 'node:crypto';
import amqp from 'amqplib';
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { MesError } from '../errors.js';
import { amqpTls, MESSAGE_HEADERS, tlsFailure } from '@meskit/kernel';
import { CONSUMED_ROUTING_KEYS, routingKeyFor, type OrderEvent } from '../events.js';
import { redactUrl } from './db.js';
import type { Db } from './orders.js';
import { reasonOf, type Logger } from './log.js';

/**
 * Where the MES sends its events. `write` runs a change and publishes the events it caused:
 * the legacy bus writes on the pool and then hands each event to a plain channel (fire and
 * forget); the reliable messaging writes the change and the events' outbox rows in one
 * transaction. `tx`: a transaction the caller is already in (the consumer's inbox).
 */
export interface EventSink {
  write<T>(
    change: (db: Db) => Promise<T>,
    events: (result: T) => OrderEvent[],
    tx?: Db,
  ): Promise<T>;
}

/** The legacy sink: the change on the pool (or `tx`), then each event to the legacy bus. */
export function legacySink(pool: Db, bus: () => LegacyBus | undefined): EventSink {
  return {
    async write(change, events, tx) {
      const result = await change(tx ?? pool);
      for (const event of events(result)) bus()?.publish(event);
      return result;
    },
  };
}

export interface MessagingCounters {
  published: number;
  publishFailures: number;
  consumed: number;
  consumeFailures: number;
}

/**
 * Handles one delivered message; throwing marks it failed (in the legacy bus it is gone either
 * way). `tx`: with the reliable consumer, the inbox's transaction, where the effect belongs.
 */
export type MessageHandler = (routingKey: string, content: Buffer, tx?: Db) => Promise<void>;

export interface LegacyBusOptions {
  url: string;
  exchange: string;
  queue: string;
  counters: MessagingCounters;
  onMessage: MessageHandler;
  logger: Logger;
}

const CONNECT_TIMEOUT_MS = 10_000;

export class LegacyBus {
  readonly #exchange: string;
  readonly #counters: MessagingCounters;
  readonly #log: Logger;
  readonly #connection: ChannelModel;
  #channel: Channel | undefined;
  #consumerTag: string | undefined;
  /** The in-process backlog: messages are handled one at a time, in delivery order. */
  #tail: Promise<void> = Promise.resolve();
  #closing: Promise<void> | undefined;

  private constructor(connection: ChannelModel, channel: Channel, opts: LegacyBusOptions) {
    this.#connection = connection;
    this.#channel = channel;
    this.#exchange = opts.exchange;
    this.#counters = opts.counters;
    this.#log = opts.logger;
  }

  /** Connects, declares the topology and starts consuming. Rejects with `BROKER_UNREACHABLE`. */
  static async connect(opts: LegacyBusOptions): Promise<LegacyBus> {
    let connection: ChannelModel;
    try {
      // amqps:// with cacertfile=... (the kernel's reading of RabbitMQ's URI parameters).
      const tls = amqpTls(opts.url);
      connection = await amqp.connect(tls.url, { ...tls.options, timeout: CONNECT_TIMEOUT_MS });
    } catch (err) {
      const reason = tlsFailure(err, opts.url) ?? err;
      throw new MesError(
        'BROKER_UNREACHABLE',
        `cannot connect to RabbitMQ at ${redactUrl(opts.url)}: ${reason instanceof Error ? reason.message : String(reason)}. Check AMQP_URL and that the broker is running.`,
        { cause: err },
      );
    }
    try {
      // LEGACY (deliberate): createChannel, not createConfirmChannel.
      const channel = await connection.createChannel();
      const bus = new LegacyBus(connection, channel, opts);
      bus.#watch(channel);
      await channel.assertExchange(opts.exchange, 'topic', { durable: true });
      await channel.assertQueue(opts.queue, { durable: true });
      for (const key of CONSUMED_ROUTING_KEYS) {
        await channel.bindQueue(opts.queue, opts.exchange, key);
      }
      const { consumerTag } = await channel.consume(
        opts.queue,
        (msg) => bus.#deliver(msg, opts.onMessage),
        { noAck: true }, // LEGACY (deliberate): auto-ack, see the top of this file.
      );
      bus.#consumerTag = consumerTag;
      return bus;
    } catch (err) {
      await connection.close().catch(() => undefined);
      throw new MesError(
        'START_FAILED',
        `cannot set up RabbitMQ exchange "${opts.exchange}" / queue "${opts.queue}": ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
  }

  publish(event: OrderEvent): void {
    const routingKey = routingKeyFor(event.status);
    const channel = this.#channel;
    if (!channel) {
      this.#counters.publishFailures++;
      this.#log.error(
        {
          event: 'publish_failed',
          routingKey,
          orderId: event.orderId,
          reason: 'no broker connection (the legacy MES does not reconnect)',
        },
        'event lost: not published',
      );
      return;
    }
    const messageId = randomUUID();
    try {
      // LEGACY (deliberate): fire and forget. No confirm, and `false` (buffer full) is ignored.
      channel.publish(this.#exchange, routingKey, Buffer.from(JSON.stringify(event)), {
        contentType: 'application/json',
        messageId,
        headers: { [MESSAGE_HEADERS.messageId]: messageId },
        persistent: true,
        timestamp: Math.floor(Date.now() / 1000),
      });
      this.#counters.published++;
    } catch (err) {
      this.#counters.publishFailures++;
      this.#log.error(
        {
          event: 'publish_failed',
          routingKey,
          orderId: event.orderId,
          messageId,
          reason: reasonOf(err),
        },
        'event lost: not published',
      );
    }
  }

  /** Stops consuming, finishes the messages already delivered, then closes the connection. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const channel = this.#channel;
    if (channel && this.#consumerTag !== undefined) {
      await channel.cancel(this.#consumerTag).catch(() => undefined);
    }
    // Delivered messages were already acked: dropping them here would lose them.
    await this.#tail;
    this.#channel = undefined;
    if (channel) await channel.close().catch(() => undefined);
    await this.#connection.close().catch(() => undefined);
  }

  #deliver(msg: ConsumeMessage | null, handler: MessageHandler): void {
    if (msg === null) {
      // The broker cancelled the consumer (e.g. the queue was deleted).
      this.#log.error(
        { event: 'consumer_cancelled', reason: 'cancelled by the broker' },
        'the consumer was cancelled; no more messages will be handled',
      );
      return;
    }
    const { routingKey } = msg.fields;
    const messageId: unknown = msg.properties.messageId;
    this.#tail = this.#tail.then(async () => {
      try {
        await handler(routingKey, msg.content);
      } catch (err) {
        this.#counters.consumeFailures++;
        this.#log.error(
          {
            event: 'consume_failed',
            routingKey,
            messageId: typeof messageId === 'string' ? messageId : undefined,
            code: errorCode(err),
            reason: reasonOf(err),
          },
          'a consumed message had no effect',
        );
      } finally {
        this.#counters.consumed++;
      }
    });
  }

  #watch(channel: Channel): void {
    // Without 'error' listeners a dying broker would crash the process.
    this.#connection.on('error', (err: Error) => {
      this.#log.error(
        { event: 'broker_connection_error', reason: err.message },
        'RabbitMQ connection error',
      );
    });
    this.#connection.on('close', () => {
      if (this.#closing) return;
      this.#channel = undefined;
      this.#log.error(
        {
          event: 'broker_connection_lost',
          reason: 'the connection to RabbitMQ closed; the legacy MES does not reconnect',
        },
        'RabbitMQ connection lost',
      );
    });
    channel.on('error', (err: Error) => {
      this.#log.error(
        { event: 'broker_channel_error', reason: err.message },
        'RabbitMQ channel error',
      );
    });
    channel.on('close', () => {
      if (this.#channel === channel) this.#channel = undefined;
    });
  }
}

function errorCode(err: unknown): string | undefined {
  const code = err instanceof Error ? (err as Error & { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}
