// The MES on @meskit/mq-reliable (MES_MESSAGING=reliable), what the legacy bus becomes:
// - every event is written to the outbox in the transaction of the change that caused it, and
//   relayed with publisher confirms (ordered per order id): an event exists exactly when its
//   change committed, whatever the broker does;
// - the CRM inbox is a quorum queue consumed with manual acks and a prefetch, one order's
//   messages one at a time in the order they came; a message's effect and its inbox row commit
//   together (a redelivery changes nothing); a failure is retried after 1 s, 10 s and 60 s,
//   then dead-lettered, and a message that can never work (malformed, an impossible
//   transition) is dead-lettered at once;
// - the connection comes back after the broker does.
// Loaded only in this mode: the legacy MES does not import mq-reliable.
import { routingKeyFor } from '@meskit/kernel';
import type pg from 'pg';
import { CONSUMED_ROUTING_KEYS } from '../events.js';
import type { EventSink, MessageHandler, MessagingCounters } from './bus.js';
import { orderKeyOf } from './consumer.js';
import type { Logger } from './log.js';
import { reasonOf } from './log.js';

/** Failures a retry cannot fix: dead-lettered at once. */
const PERMANENT = new Set([
  'MALFORMED_MESSAGE',
  'UNKNOWN_ROUTING_KEY',
  'ORDER_NOT_FOUND',
  'INVALID_TRANSITION',
  'INVALID_MODEL',
  'MODEL_NOT_PRICEABLE',
  'MODEL_UNREADABLE',
]);

export interface ReliableMessagingOptions {
  url: string;
  exchange: string;
  queue: string;
  pool: pg.Pool;
  onMessage: MessageHandler;
  counters: MessagingCounters;
  logger: Logger;
  migrate: boolean;
}

export interface ReliableMessaging {
  sink: EventSink;
  /** Events confirmed by the broker, and those written but not yet confirmed. */
  published(): { confirmed: number; unconfirmed: number };
  close(): Promise<void>;
}

export async function startReliableMessaging(
  opts: ReliableMessagingOptions,
): Promise<ReliableMessaging> {
  const mq = await import('@meskit/mq-reliable');
  const { pool, exchange } = opts;
  const publisher = mq.createPublisher({
    url: opts.url,
    connectionName: 'reference-mes',
    topology: { exchanges: [{ name: exchange }] },
  });
  if (opts.migrate) {
    // Before the relay starts, so that its first round finds the table.
    await pool.query(mq.outboxSchemaSql());
    await pool.query(mq.inboxSchemaSql());
  }
  const outbox = mq.createOutbox({ pool, publisher });
  const inbox = mq.pgInbox({ pool, consumer: 'reference-mes' });
  let consumer: ReturnType<typeof mq.createConsumer> | undefined;
  try {
    consumer = mq.createConsumer({
      url: opts.url,
      queue: opts.queue,
      connectionName: 'reference-mes-inbox',
      bindings: CONSUMED_ROUTING_KEYS.map((pattern) => ({ exchange, pattern })),
      parse: 'buffer',
      // The shop's initiated -> file_uploaded -> submitted, published one after another, must
      // not run side by side: a later one would insert the order first and the earlier one's
      // status would never be recorded.
      orderingKey: (message) => orderKeyOf(message.body as Buffer),
      inbox,
      retry: {
        retryable: (error) => !PERMANENT.has(String((error as { code?: unknown }).code)),
      },
      handler: async (message, { db }) => {
        try {
          await opts.onMessage(message.routingKey, message.body as Buffer, db as pg.PoolClient);
        } catch (error) {
          opts.counters.consumeFailures++;
          opts.logger.error(
            {
              event: 'consume_failed',
              routingKey: message.routingKey,
              messageId: message.messageId,
              attempt: message.attempt,
              code: (error as { code?: unknown }).code,
              reason: reasonOf(error),
            },
            'a consumed message failed; it is retried or dead-lettered, not lost',
          );
          throw error;
        } finally {
          opts.counters.consumed++;
        }
      },
    });
  } catch (error) {
    await consumer?.close();
    await outbox.close();
    await publisher.close();
    throw error;
  }
  const sink: EventSink = {
    async write(change, events, tx) {
      const run = async (db: pg.Pool | pg.PoolClient) => {
        const result = await change(db);
        for (const event of events(result)) {
          await outbox.enqueue(db, exchange, routingKeyFor(event.status), event, {
            orderingKey: String(event.orderId),
          });
        }
        return result;
      };
      if (tx) return run(tx);
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        const result = await run(client);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch((e: Error) => (broken = e));
        throw error;
      } finally {
        client.release(broken); // a connection that cannot roll back is not reused
      }
    },
  };
  const open = consumer;
  return {
    sink,
    published: () => ({
      confirmed: outbox.stats().sent,
      unconfirmed: publisher.stats().unconfirmed,
    }),
    async close() {
      await open.close();
      await outbox.close();
      await publisher.close();
    },
  };
}
