// The consumer on the real RabbitMQ (and PostgreSQL, Redis for the inboxes): acks after the
// handler, retries through wait queues, the dead-letter queue with the error in its headers,
// unparseable bodies dead-lettered at once, effect-once with an inbox, a crash-looping message
// dead-lettered by the quorum queue's delivery limit, and a graceful shutdown.
import { Redis } from 'ioredis';
import pg from 'pg';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createConsumer,
  createPublisher,
  pgInbox,
  redisInbox,
  type ConsumedMessage,
  type Consumer,
  type ConsumerOptions,
  type Publisher,
} from '../dist/index.js';
import { createTestDatabase, drain, names, serviceUrls, startRelay, waitFor } from './helpers.js';
import { deleteConsumerTopology } from '@meskit/testkit';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let pool: pg.Pool;
beforeAll(async () => {
  db = await createTestDatabase('mq_consumer');
  pool = new pg.Pool({ connectionString: db.url, max: 8 });
  // drop() terminates what pool.end() has not finished closing.
  pool.on('error', () => undefined);
  await pgInbox({ pool, consumer: 'x' }).migrate();
  await pool.query('CREATE TABLE effects (message_id text NOT NULL, n int NOT NULL)');
});
afterAll(async () => {
  await pool.end();
  await db.drop();
});

/** A consumer of a fresh queue bound to a fresh exchange, and a publisher to that exchange. */
async function setup<T>(
  prefix: string,
  opts: Omit<ConsumerOptions<T>, 'url' | 'queue' | 'bindings'>,
  url = serviceUrls().amqpUrl,
): Promise<{ consumer: Consumer; publisher: Publisher; exchange: string; queue: string }> {
  const { exchange, queue } = names(prefix);
  const consumer = createConsumer<T>({
    url,
    queue,
    bindings: [{ exchange, pattern: 'order.#' }],
    registry: new Registry(),
    reconnectMinMs: 20,
    reconnectMaxMs: 200,
    ...opts,
  });
  const publisher = createPublisher({
    url: serviceUrls().amqpUrl,
    registry: new Registry(),
    topology: { exchanges: [{ name: exchange }] },
  });
  closers.push(async () => {
    await consumer.close();
    await publisher.close();
    await deleteConsumerTopology(serviceUrls().amqpUrl, queue, exchange);
  });
  await consumer.ready();
  return { consumer, publisher, exchange, queue };
}

describe('createConsumer', () => {
  it('hands over body, message-id and the LSN token, acks after the handler, and keeps to the prefetch', async () => {
    const seen: ConsumedMessage<{ n: number }>[] = [];
    let running = 0;
    let most = 0;
    const { consumer, publisher, exchange } = await setup<{ n: number }>('ack', {
      prefetch: 3,
      async handler(message) {
        running += 1;
        most = Math.max(most, running);
        await new Promise((resolve) => setImmediate(resolve));
        seen.push(message);
        running -= 1;
      },
    });
    await Promise.all(
      Array.from({ length: 30 }, (_, n) =>
        publisher.publish(
          exchange,
          'order.created',
          { n },
          {
            messageId: `a-${n}`,
            headers: { 'x-meskit-lsn': '0/16B3748' },
          },
        ),
      ),
    );
    await waitFor('30 handled', () => consumer.stats().outcomes.acked === 30);
    expect(seen.map((m) => m.body.n).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 30 }, (_, n) => n),
    );
    expect(seen[0]).toMatchObject({ routingKey: 'order.created', lsn: '0/16B3748', attempt: 0 });
    expect(seen.find((m) => m.body.n === 4)?.messageId).toBe('a-4');
    expect(most).toBeLessThanOrEqual(3);
    expect(consumer.stats()).toMatchObject({ consuming: true, inFlight: 0 });
  });

  it("with an ordering key, one key's messages run one at a time in delivery order while other keys go on", async () => {
    const events: string[] = [];
    const gates = new Map<string, () => void>();
    const { consumer, publisher, exchange } = await setup<{ order: string; step: number }>(
      'keyed',
      {
        prefetch: 8,
        orderingKey: (message) => message.body.order,
        async handler(message) {
          const id = `${message.body.order}${message.body.step}`;
          events.push(`start ${id}`);
          // The first message of order A holds until the test lets it go.
          if (id === 'A1') await new Promise<void>((resolve) => gates.set(id, resolve));
          events.push(`end ${id}`);
        },
      },
    );
    for (const [order, step] of [
      ['A', 1],
      ['A', 2],
      ['B', 1],
      ['A', 3],
      ['B', 2],
    ] as const)
      await publisher.publish(exchange, 'order.changed', { order, step });
    await waitFor('B done while A1 holds', () => events.includes('end B2'));
    // A2 and A3 are delivered (prefetch 8) but wait behind A1.
    expect(events.filter((e) => e.includes('A'))).toEqual(['start A1']);
    expect(consumer.stats().inFlight).toBe(3);
    gates.get('A1')!();
    await waitFor('all acked', () => consumer.stats().outcomes.acked === 5);
    expect(events.filter((e) => e.includes('A'))).toEqual([
      'start A1',
      'end A1',
      'start A2',
      'end A2',
      'start A3',
      'end A3',
    ]);
    expect(events.filter((e) => e.includes('B'))).toEqual([
      'start B1',
      'end B1',
      'start B2',
      'end B2',
    ]);
  });

  it('an ordering key that throws fails its message like a handler error', async () => {
    const handled: number[] = [];
    const { consumer, publisher, exchange } = await setup<{ n: number }>('keythrow', {
      retry: { delaysMs: [] },
      orderingKey: (message) => {
        if (message.body.n === 1) throw new Error('no key');
        return 'k';
      },
      async handler(message) {
        handled.push(message.body.n);
      },
    });
    for (const n of [1, 2]) await publisher.publish(exchange, 'order.changed', { n });
    await waitFor(
      'one acked, one dead-lettered',
      () => consumer.stats().outcomes.acked === 1 && consumer.stats().outcomes.dead_lettered === 1,
    );
    expect(handled).toEqual([2]);
  });

  it('a failing handler is retried after each delay, then the message is dead-lettered with the error', async () => {
    const attempts: number[] = [];
    const { consumer, publisher, exchange, queue } = await setup('retry', {
      retry: { delaysMs: [30, 60] },
      async handler(message) {
        attempts.push(message.attempt);
        throw Object.assign(new Error(`no stock for order ${message.messageId}`), {
          code: 'NO_STOCK',
        });
      },
    });
    await publisher.publish(exchange, 'order.approved', { orderId: 'o-1' }, { messageId: 'r-1' });
    await waitFor('dead-lettered', () => consumer.stats().outcomes.dead_lettered === 1);
    expect(attempts).toEqual([0, 1, 2]);
    expect(consumer.stats().outcomes).toMatchObject({ retried: 2, dead_lettered: 1, acked: 0 });
    const dlq = await drain(serviceUrls().amqpUrl, `${queue}.dlq`);
    await waitFor('the DLQ copy read', () => dlq.ids.length === 1);
    await dlq.close();
    expect(dlq.ids).toEqual(['r-1']);
    expect(JSON.parse(dlq.bodies[0]!)).toEqual({ orderId: 'o-1' });
    const h = dlq.headers[0]!;
    expect(String(h['x-meskit-error'])).toContain('no stock for order r-1');
    expect(h).toMatchObject({
      'x-meskit-error-code': 'NO_STOCK',
      'x-meskit-attempt': 2,
      'x-meskit-original-queue': queue,
      'x-meskit-original-exchange': exchange,
      'x-meskit-original-routing-key': 'order.approved',
      'message-id': 'r-1',
    });
  });

  it('an error the retryable option refuses goes to the dead-letter queue without a retry', async () => {
    let calls = 0;
    const { consumer, publisher, exchange } = await setup('no-retry', {
      retry: {
        delaysMs: [20, 20],
        retryable: (error) => (error as { code?: string }).code !== 'INVALID_TRANSITION',
      },
      async handler() {
        calls += 1;
        throw Object.assign(new Error('order 7 is CLOSED'), { code: 'INVALID_TRANSITION' });
      },
    });
    await publisher.publish(exchange, 'order.closed', { orderId: 7 }, { messageId: 'nr-1' });
    await waitFor('dead-lettered', () => consumer.stats().outcomes.dead_lettered === 1);
    expect(calls).toBe(1);
    expect(consumer.stats().outcomes.retried).toBe(0);
  });

  it('an unparseable body goes to the dead-letter queue at once; the handler never sees it', async () => {
    let calls = 0;
    const { consumer, publisher, exchange, queue } = await setup('poison', {
      async handler() {
        calls += 1;
      },
    });
    await publisher.publish(exchange, 'order.created', '{"orderId": 1,', { messageId: 'bad-json' });
    await publisher.publish(exchange, 'order.created', { orderId: 2 }, { messageId: 'good' });
    await waitFor('both settled', () => {
      const o = consumer.stats().outcomes;
      return o.unparseable === 1 && o.acked === 1;
    });
    expect(calls).toBe(1);
    const dlq = await drain(serviceUrls().amqpUrl, `${queue}.dlq`);
    await waitFor('the DLQ copy read', () => dlq.ids.length === 1);
    await dlq.close();
    expect(dlq.ids).toEqual(['bad-json']);
    expect(dlq.headers[0]?.['x-meskit-error-code']).toBe('UNPARSEABLE');
    expect(String(dlq.headers[0]?.['x-meskit-error'])).toMatch(/does not parse/);
  });

  it('with the PostgreSQL inbox a message published twice has its effect once; a failed effect rolls back', async () => {
    let failOnce = true;
    const { consumer, publisher, exchange } = await setup<{ n: number }>('pg-inbox', {
      retry: { delaysMs: [20] },
      inbox: pgInbox({ pool, consumer: 'effects-test' }),
      async handler(message, { db }) {
        await db!.query('INSERT INTO effects (message_id, n) VALUES ($1, $2)', [
          message.messageId,
          message.body.n,
        ]);
        if (message.body.n === 2 && failOnce) {
          failOnce = false;
          throw new Error('the effect fails after its write');
        }
      },
    });
    for (const n of [1, 2, 3]) {
      await publisher.publish(exchange, 'order.created', { n }, { messageId: `pg-${n}` });
      await publisher.publish(exchange, 'order.created', { n }, { messageId: `pg-${n}` });
    }
    await waitFor('all settled', () => {
      const o = consumer.stats().outcomes;
      return o.acked + o.duplicate === 6;
    });
    const { rows } = await pool.query<{ message_id: string; copies: number }>(
      `SELECT message_id, count(*)::int AS copies FROM effects WHERE message_id LIKE 'pg-%' GROUP BY 1 ORDER BY 1`,
    );
    expect(rows).toEqual([
      { message_id: 'pg-1', copies: 1 },
      { message_id: 'pg-2', copies: 1 },
      { message_id: 'pg-3', copies: 1 },
    ]);
    expect(consumer.stats().outcomes).toMatchObject({ acked: 3, duplicate: 3, retried: 1 });
  });

  it('with the Redis inbox a duplicate is skipped', async () => {
    const redis = new Redis(serviceUrls().redisUrl);
    closers.push(async () => void (await redis.quit()));
    const effects: string[] = [];
    const { consumer, publisher, exchange } = await setup('redis-inbox', {
      inbox: redisInbox({ redis, consumer: `test-${Date.now()}`, ttlMs: 60_000 }),
      async handler(message) {
        effects.push(message.messageId);
      },
    });
    for (const id of ['x-1', 'x-1', 'x-2', 'x-1'])
      await publisher.publish(exchange, 'order.created', { id }, { messageId: id });
    await waitFor('all settled', () => {
      const o = consumer.stats().outcomes;
      return o.acked + o.duplicate === 4;
    });
    expect(effects.sort()).toEqual(['x-1', 'x-2']);
  });

  it('a message whose handler never gets to ack (the connection dies each time) is dead-lettered by the delivery limit', async () => {
    const relay = await startRelay(serviceUrls().amqpUrl);
    closers.push(() => relay.close());
    const deliveries: number[] = [];
    const { consumer, publisher, exchange, queue } = await setup(
      'crash-loop',
      {
        retry: { deliveryLimit: 2 },
        heartbeatSeconds: 1,
        async handler(message) {
          deliveries.push(message.deliveryCount);
          relay.cut(); // as if the process died while handling it
          await new Promise((resolve) => setImmediate(resolve));
        },
      },
      relay.url,
    );
    await publisher.publish(exchange, 'order.created', { n: 1 }, { messageId: 'crash' });
    const dlq = await drain(serviceUrls().amqpUrl, `${queue}.dlq`);
    await waitFor('the broker dead-lettered it', () => dlq.ids.length === 1, { timeoutMs: 30_000 });
    await dlq.close();
    expect(dlq.ids).toEqual(['crash']);
    expect(deliveries).toEqual([0, 1, 2]);
    expect(consumer.stats().reconnects).toBeGreaterThanOrEqual(2); // the third is under way
  });

  it('close() stops taking messages, lets the running handler finish and ack, and leaves the rest queued', async () => {
    let release: () => void = () => undefined;
    const started: string[] = [];
    const { consumer, publisher, exchange, queue } = await setup('shutdown', {
      prefetch: 1,
      async handler(message) {
        started.push(message.messageId);
        await new Promise<void>((resolve) => (release = resolve));
      },
    });
    for (const id of ['s-1', 's-2', 's-3'])
      await publisher.publish(exchange, 'order.created', {}, { messageId: id });
    await waitFor('the first handler runs', () => started.length === 1);
    const closing = consumer.close();
    let closed = false;
    void closing.then(() => (closed = true));
    await waitFor('the consumer cancelled', () => !consumer.stats().consuming);
    expect(closed).toBe(false); // waits for the running handler
    release();
    await closing;
    expect(consumer.stats().outcomes.acked).toBe(1);
    expect(started).toEqual(['s-1']);
    const rest = await drain(serviceUrls().amqpUrl, queue);
    await waitFor('the rest still queued', () => rest.ids.length === 2);
    await rest.close();
    expect(rest.ids.sort()).toEqual(['s-2', 's-3']);
  });

  it('refuses bad options with INVALID_OPTION', () => {
    const base = { url: 'amqp://127.0.0.1', queue: 'q', handler: async () => undefined };
    expect(() => createConsumer({ ...base, queue: '' })).toThrow(
      expect.objectContaining({ option: 'queue' }),
    );
    expect(() => createConsumer({ ...base, handler: undefined as never })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION', option: 'handler' }),
    );
    expect(() => createConsumer({ ...base, retry: { delaysMs: [10, -1] } })).toThrow(
      expect.objectContaining({ option: 'retry.delaysMs[1]' }),
    );
    expect(() => createConsumer({ ...base, parse: 'xml' as never })).toThrow(
      expect.objectContaining({ option: 'parse' }),
    );
    expect(() => createConsumer({ ...base, orderingKey: 'orderId' as never })).toThrow(
      expect.objectContaining({ option: 'orderingKey' }),
    );
  });
});
