import { randomUUID } from 'node:crypto';
import amqp, { type Channel, type ConfirmChannel } from 'amqplib';
import pg from 'pg';
import { Registry } from 'prom-client';
import {
  createOutbox,
  createPublisher,
  OUTBOX_DEFAULTS,
  type Outbox,
  type Publisher,
} from '@meskit/mq-reliable';
import { startServices } from '@meskit/services';
import { defineBenchmark } from '../lib/bench.js';
import { createDatabase, dropDatabase } from '../lib/database.js';
import { round } from '../lib/stats.js';

const VARIANTS = ['raw', 'meskit', 'outbox'] as const;
type Variant = (typeof VARIANTS)[number];

const ROUTING_KEY = 'order.manufacturing_started';

/** An order event of about 200 bytes of JSON; `i` makes each one distinct. */
function event(i: number): Record<string, unknown> {
  return {
    type: ROUTING_KEY,
    orderId: 1_000_000 + i,
    orderNumber: `SO-2026-${String(i).padStart(7, '0')}`,
    station: 'CNC-07',
    operator: 'op-0042',
    quantity: 1 + (i % 50),
    material: 'PA12',
    occurredAt: new Date(Date.UTC(2026, 11, 3) + i * 1000).toISOString(),
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

interface Measured {
  /** Messages per second. */
  rate: number;
  /** CPU time of this process (all its threads) per message, in µs, while it was timed. */
  cpuUs: number;
}

interface Summary {
  /** msgs/s: the median round's, the slowest and the fastest. */
  median: number;
  min: number;
  max: number;
  /** Every round's msgs/s, in round order. */
  rounds: number[];
  /** The median of the rounds' CPU µs per message of the benchmark process (the client side). */
  cpuUsPerMessage: number;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function summarize(runs: readonly Measured[]): Summary {
  const rates = runs.map((r) => r.rate);
  return {
    median: Math.round(median(rates)),
    min: Math.round(Math.min(...rates)),
    max: Math.round(Math.max(...rates)),
    rounds: rates.map((rate) => Math.round(rate)),
    cpuUsPerMessage: round(median(runs.map((r) => r.cpuUs)), 1),
  };
}

/** The run's topology: one topic exchange bound (`#`) to one durable quorum queue. */
interface Topology {
  exchange: string;
  queue: string;
}

/**
 * Plain amqplib: a confirm channel, `batch` messages published, then `waitForConfirms()`, then
 * the next batch. The messages are the ones mq-reliable sends (persistent, mandatory, a
 * message-id property and the contract's `message-id` header, a timestamp), so the ratio is
 * the cost of the library, not of a different message. Returns the elapsed ms.
 */
async function publishRaw(
  channel: ConfirmChannel,
  { exchange }: Topology,
  events: readonly Record<string, unknown>[],
  batch: number,
): Promise<number> {
  const started = performance.now();
  for (let from = 0; from < events.length; from += batch) {
    const to = Math.min(from + batch, events.length);
    for (let i = from; i < to; i++) {
      const messageId = randomUUID();
      channel.publish(exchange, ROUTING_KEY, Buffer.from(JSON.stringify(events[i])), {
        messageId,
        persistent: true,
        mandatory: true,
        contentType: 'application/json',
        timestamp: Math.floor(Date.now() / 1000),
        headers: { 'message-id': messageId },
      });
    }
    await channel.waitForConfirms();
  }
  return performance.now() - started;
}

/** createPublisher: `batch` publish() promises at once, all awaited, then the next batch. */
async function publishMeskit(
  publisher: Publisher,
  { exchange }: Topology,
  events: readonly Record<string, unknown>[],
  batch: number,
): Promise<number> {
  const started = performance.now();
  for (let from = 0; from < events.length; from += batch) {
    await Promise.all(
      events
        .slice(from, from + batch)
        .map((body) => publisher.publish(exchange, ROUTING_KEY, body)),
    );
  }
  return performance.now() - started;
}

/**
 * The outbox end to end: `writers` concurrent writers enqueue the events in transactions of
 * `batch` rows; the clock stops once the relay has marked every row sent (backlog 0).
 */
async function publishOutbox(
  pool: pg.Pool,
  outbox: Outbox,
  { exchange }: Topology,
  events: readonly Record<string, unknown>[],
  batch: number,
  writers: number,
): Promise<number> {
  const started = performance.now();
  let next = 0;
  const writer = async (): Promise<void> => {
    for (;;) {
      const from = next;
      next += batch;
      if (from >= events.length) return;
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        for (let i = from; i < Math.min(from + batch, events.length); i++)
          await outbox.enqueue(client, exchange, ROUTING_KEY, events[i], {
            messageId: randomUUID(),
          });
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch((e: Error) => (broken = e));
        throw error;
      } finally {
        client.release(broken);
      }
    }
  };
  await Promise.all(Array.from({ length: writers }, writer));
  while ((await outbox.backlog()).pending > 0) await sleep(5);
  return performance.now() - started;
}

/** Waits (briefly) until the queue holds `count` messages: every confirmed message arrived. */
async function expectInQueue(channel: Channel, queue: string, count: number): Promise<void> {
  let held = -1;
  for (let attempt = 0; attempt < 100; attempt++) {
    held = (await channel.checkQueue(queue)).messageCount;
    if (held === count) return;
    await sleep(20);
  }
  throw new Error(`queue ${queue} holds ${held} messages, expected ${count}`);
}

/**
 * Confirmed publishing to a quorum queue on the run's RabbitMQ: plain amqplib (a confirm
 * channel, waitForConfirms per batch) against @meskit/mq-reliable's createPublisher with the
 * same number of messages outstanding, and the transactional outbox end to end (rows written
 * in PostgreSQL transactions, relayed with confirms). Interleaved rounds, the median of each,
 * and beside it the benchmark process's CPU per message (the client's cost; the broker's and
 * PostgreSQL's are not in it), which moves far less than msgs/s on a shared machine.
 */
export const mq = defineBenchmark({
  name: 'mq',
  description:
    'confirmed publishing to a quorum queue: raw amqplib confirm channel vs createPublisher vs the outbox end to end (msgs/s)',
  defaults: {
    messages: 20_000,
    batch: 100,
    rounds: 7,
    writers: 4,
    relayBatch: OUTBOX_DEFAULTS.batchSize as number,
  },
  async run({ options: { messages, batch, rounds, writers, relayBatch }, log }) {
    const services = await startServices({ only: ['postgres', 'rabbitmq'], replica: false, log });
    const amqpUrl = services.urls.AMQP_URL!;
    const serverUrl = services.urls.DATABASE_URL!;
    const suffix = `${process.pid}_${Date.now().toString(36)}`;
    const topology: Topology = {
      exchange: `bench.mq.${suffix}`,
      queue: `bench.mq.${suffix}.orders`,
    };
    const databaseName = `bench_mq_${suffix}`;
    const events = Array.from({ length: messages }, (_, i) => event(i));
    const bodyBytes = Buffer.byteLength(JSON.stringify(events[0]));
    const closers: (() => Promise<unknown>)[] = [];
    try {
      // Plain amqplib: the topology declared once, a confirm channel for publishing and a
      // plain one for counting and purging.
      const connection = await amqp.connect(amqpUrl);
      closers.push(() => connection.close());
      const admin = await connection.createChannel();
      await admin.assertExchange(topology.exchange, 'topic', { durable: true });
      await admin.assertQueue(topology.queue, {
        durable: true,
        arguments: { 'x-queue-type': 'quorum' },
      });
      await admin.bindQueue(topology.queue, topology.exchange, '#');
      closers.push(async () => {
        await admin.deleteQueue(topology.queue);
        await admin.deleteExchange(topology.exchange);
      });
      const confirmChannel = await connection.createConfirmChannel();
      let returned = 0;
      confirmChannel.on('return', () => (returned += 1));

      const publisherTopology = {
        exchanges: [{ name: topology.exchange }],
        queues: [{ name: topology.queue }],
        bindings: [{ queue: topology.queue, exchange: topology.exchange }],
      };
      /** A confirming publisher on the bench topology, closed with the run. */
      const startPublisher = async (connectionName: string) => {
        const started = createPublisher({
          url: amqpUrl,
          topology: publisherTopology,
          registry: new Registry(),
          connectionName,
        });
        closers.push(() => started.close());
        await started.ready();
        return started;
      };
      const publisher = await startPublisher('bench-mq-meskit');

      const databaseUrl = await createDatabase(serverUrl, databaseName);
      closers.push(() => dropDatabase(serverUrl, databaseName));
      // The writers, the relay's round and its LISTEN connection, and the backlog poll.
      const pool = new pg.Pool({ connectionString: databaseUrl, max: writers + 3 });
      pool.on('error', () => undefined);
      closers.push(() => pool.end());
      const relayPublisher = await startPublisher('bench-mq-outbox');
      const outbox = createOutbox({
        pool,
        publisher: relayPublisher,
        relay: { batchSize: relayBatch },
        registry: new Registry(),
      });
      closers.push(() => outbox.close());
      await outbox.migrate();

      const measure = async (
        variant: Variant,
        slice: readonly Record<string, unknown>[],
      ): Promise<Measured> => {
        const cpu = process.cpuUsage();
        let ms: number;
        if (variant === 'raw') ms = await publishRaw(confirmChannel, topology, slice, batch);
        else if (variant === 'meskit') ms = await publishMeskit(publisher, topology, slice, batch);
        else ms = await publishOutbox(pool, outbox, topology, slice, batch, writers);
        const { user, system } = process.cpuUsage(cpu);
        if (returned > 0) throw new Error(`raw: ${returned} messages returned unroutable`);
        await expectInQueue(admin, topology.queue, slice.length);
        // The next variant starts on an empty queue (and, for the outbox, an empty table).
        await admin.purgeQueue(topology.queue);
        if (variant === 'outbox') await pool.query(`TRUNCATE ${OUTBOX_DEFAULTS.table}`);
        return { rate: slice.length / (ms / 1000), cpuUs: (user + system) / slice.length };
      };

      // A whole untimed round first: JIT, the pools, and the new queue's first writes (with a
      // warm-up of 1,000 messages the first timed round still ran at half speed).
      for (const variant of VARIANTS) await measure(variant, events);

      const runs = new Map<Variant, Measured[]>(VARIANTS.map((v) => [v, []]));
      for (let round_ = 0; round_ < rounds; round_++) {
        // Alternating order, so no variant always runs first (or after the outbox's writes).
        const order = round_ % 2 === 0 ? VARIANTS : [...VARIANTS].reverse();
        for (const variant of order) {
          const run = await measure(variant, events);
          runs.get(variant)!.push(run);
          log(
            `round ${round_ + 1}/${rounds}, ${variant}: ${Math.round(run.rate)} msgs/s, ${round(run.cpuUs, 1)} µs CPU per message`,
          );
        }
      }

      const results = Object.fromEntries(
        VARIANTS.map((v) => [v, summarize(runs.get(v)!)]),
      ) as Record<Variant, Summary>;
      // Paired: each round's variant against the raw run of the same round (they ran minutes
      // apart at most, under the same load), then the median over rounds. The ratio of the
      // medians is kept beside it.
      const paired = (v: Variant): number =>
        round(median(runs.get(v)!.map((run, i) => run.rate / runs.get('raw')![i]!.rate)), 3);
      const ratios = {
        throughput: paired('meskit'),
        outboxThroughput: paired('outbox'),
        throughputOfMedians: round(results.meskit.median / results.raw.median, 3),
        outboxThroughputOfMedians: round(results.outbox.median / results.raw.median, 3),
      };
      const row = (label: string, s: Summary): (string | number)[] => [
        label,
        s.median,
        s.min,
        s.max,
        s.cpuUsPerMessage,
      ];
      return {
        table: [
          [
            `${messages.toLocaleString('en-US')} messages of ${bodyBytes} B, ${batch} outstanding, ${rounds} rounds`,
            'msgs/s (median)',
            'min',
            'max',
            'client CPU (µs/msg)',
          ],
          row('raw: amqplib confirm channel, waitForConfirms per batch', results.raw),
          row('meskit: createPublisher, publish() promises per batch', results.meskit),
          row(
            `outbox: enqueue (${writers} writers, ${batch} per transaction) to relayed`,
            results.outbox,
          ),
          ['ratios', JSON.stringify(ratios), '', '', ''],
        ],
        json: {
          bench: 'mq',
          messages,
          batch,
          rounds,
          writers,
          relayBatch,
          bodyBytes,
          results,
          ratios,
        },
      };
    } finally {
      for (const close of closers.reverse()) await close().catch(() => undefined);
      await services.close();
    }
  },
});
