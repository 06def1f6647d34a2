// The fault test: 20,000 messages, half published directly and half through the
// outbox, to a RabbitMQ of its own (the suite's shared one must not die under other test
// files) that is SIGKILLed and restarted three times while the connections through a fault
// relay are also cut twice. Every publish settles (confirmed, or an error the caller saw);
// every confirmed message and every committed outbox row is consumed (0 lost); the consumer's
// PostgreSQL inbox makes the handler's effects equal the distinct messages (0 duplicates).
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRabbitMq, type RabbitMqServer } from '@meskit/services';
import pg from 'pg';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createConsumer,
  createOutbox,
  createPublisher,
  pgInbox,
  type Consumer,
  type Outbox,
  type Publisher,
} from '../dist/index.js';
import { createTestDatabase, startRelay, waitFor } from './helpers.js';

const TOTAL = 20_000;
const DIRECT = TOTAL / 2;
const WINDOW = 400; // direct publishes outstanding at once
const EXCHANGE = 'test.faults.x';
const QUEUE = 'test.faults.q';

const dir = mkdtempSync(join(tmpdir(), 'meskit-mq-faults-'));
let broker: RabbitMqServer;
let relay: Awaited<ReturnType<typeof startRelay>>;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let pool: pg.Pool;
const closers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  chmodSync(dir, 0o755); // RabbitMQ runs as its own user when started by root
  broker = await startRabbitMq({ dir });
  relay = await startRelay(broker.url);
  db = await createTestDatabase('mq_faults');
  pool = new pg.Pool({ connectionString: db.url, max: 10 });
  pool.on('error', () => undefined);
  await pool.query('CREATE TABLE effects (message_id text NOT NULL)');
}, 120_000);

afterAll(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
  await relay?.close();
  await broker?.close();
  await pool?.end();
  await db?.drop();
  rmSync(dir, { recursive: true, force: true });
});

const resilient = {
  heartbeatSeconds: 2,
  reconnectMinMs: 50,
  reconnectMaxMs: 500,
  connectTimeoutMs: 2_000,
};

describe('20,000 messages through broker kills and dropped connections', () => {
  it('loses none, and the inbox leaves no duplicate effect', { timeout: 300_000 }, async () => {
    const registry = new Registry();
    const inbox = pgInbox({ pool, consumer: 'faults' });
    await inbox.migrate();
    const consumer: Consumer = createConsumer({
      url: relay.url,
      queue: QUEUE,
      // A single node: the cluster test runs the same on quorum queues.
      queueType: 'classic',
      bindings: [{ exchange: EXCHANGE, pattern: 'order.#' }],
      prefetch: 64,
      inbox,
      registry,
      ...resilient,
      async handler(message, { db: tx }) {
        await tx!.query('INSERT INTO effects (message_id) VALUES ($1)', [message.messageId]);
      },
    });
    closers.push(() => consumer.close());
    await consumer.ready(60_000);
    const publisherOptions = {
      url: relay.url,
      registry,
      topology: { exchanges: [{ name: EXCHANGE }] },
      timeoutMs: 120_000,
      ...resilient,
    };
    const direct: Publisher = createPublisher(publisherOptions);
    const relayPublisher: Publisher = createPublisher(publisherOptions);
    await createOutbox({ pool, registry: new Registry() }).migrate();
    const outbox: Outbox = createOutbox({
      pool,
      publisher: relayPublisher,
      registry,
      relay: { pollIntervalMs: 100, publishTimeoutMs: 5_000, retryMinMs: 100, retryMaxMs: 1_000 },
    });
    closers.push(
      () => relayPublisher.close(),
      () => outbox.close(),
      () => direct.close(),
    );

    // Direct publishes, at most WINDOW outstanding, kept abreast of the outbox writers so
    // that every fault lands on both paths; each outcome recorded.
    const outcomes = new Map<string, string>();
    const committed: string[] = [];
    let sent = 0;
    let onCommit: () => void = () => undefined;
    const directDone = (async () => {
      const inFlight = new Set<Promise<void>>();
      for (; sent < DIRECT; sent++) {
        while (sent > committed.length + WINDOW)
          await new Promise<void>((resolve) => (onCommit = resolve));
        const id = `d-${sent}`;
        const p: Promise<void> = direct
          .publish(EXCHANGE, 'order.created', { id }, { messageId: id })
          .then(
            () => void outcomes.set(id, 'confirmed'),
            (error: Error & { code?: string }) => void outcomes.set(id, error.code ?? 'untyped'),
          )
          .finally(() => inFlight.delete(p));
        inFlight.add(p);
        if (inFlight.size >= WINDOW) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
    })();

    // Outbox writers: 10 rows per transaction, four writers; the committed ids recorded.
    let next = 0;
    const writer = async (): Promise<void> => {
      while (next < TOTAL - DIRECT) {
        const ids = Array.from({ length: 10 }, () => `o-${next++}`).filter(
          (id) => Number(id.slice(2)) < TOTAL - DIRECT,
        );
        const client = await pool.connect();
        try {
          await client.query('BEGIN');
          for (const id of ids)
            await outbox.enqueue(client, EXCHANGE, 'order.created', { id }, { messageId: id });
          await client.query('COMMIT');
          committed.push(...ids);
          onCommit();
        } finally {
          client.release();
        }
      }
    };
    const writersDone = Promise.all([writer(), writer(), writer(), writer()]);

    // The faults, spread over the run: kill, cut, kill, cut, kill.
    const progress = () => sent + committed.length;
    const faults: string[] = [];
    const allConnected = () =>
      [direct, relayPublisher].every((p) => p.stats().connected) && consumer.stats().consuming;
    for (const [i, fault] of (['kill', 'cut', 'kill', 'cut', 'kill'] as const).entries()) {
      // Each fault hits a live system: every client connected again, traffic flowing.
      await waitFor(
        `progress before fault ${i + 1}`,
        () => progress() >= ((i + 1) * TOTAL) / 7 && allConnected(),
        { timeoutMs: 120_000 },
      );
      if (fault === 'cut') relay.cut();
      else {
        await broker.kill();
        await broker.start();
      }
      faults.push(fault);
    }
    await Promise.all([directDone, writersDone]);

    // Every direct publish settled; with restarts inside the timeout, all were confirmed.
    expect(outcomes.size).toBe(DIRECT);
    const failed = [...outcomes].filter(([, o]) => o !== 'confirmed');
    expect(failed).toEqual([]);
    expect(committed.length).toBe(TOTAL - DIRECT);

    await waitFor('the outbox drained', async () => (await outbox.backlog()).pending === 0, {
      timeoutMs: 120_000,
    });
    const expected = [...[...outcomes.keys()], ...committed];
    const effects = async () =>
      (
        await pool.query<{ total: number; distinct: number }>(
          'SELECT count(*)::int AS total, count(DISTINCT message_id)::int AS distinct FROM effects',
        )
      ).rows[0]!;
    await waitFor('every message had its effect', async () => (await effects()).distinct >= TOTAL, {
      timeoutMs: 120_000,
    });
    const { rows } = await pool.query<{ message_id: string }>('SELECT message_id FROM effects');
    const seen = new Set(rows.map((r) => r.message_id));
    expect(expected.filter((id) => !seen.has(id))).toEqual([]); // 0 lost
    expect(seen.size).toBe(TOTAL); // nothing that was not published
    expect(await effects()).toEqual({ total: TOTAL, distinct: TOTAL }); // 0 duplicate effects

    expect(faults).toEqual(['kill', 'cut', 'kill', 'cut', 'kill']);
    await waitFor('every client reconnected after the last kill', allConnected);
    const stats = {
      direct: direct.stats(),
      relay: relayPublisher.stats(),
      consumer: consumer.stats(),
    };
    // Every client lived through every kill (a cut finds a client connected unless it is
    // still reconnecting after the kill before it).
    for (const [name, s] of Object.entries(stats))
      expect(s.reconnects, `${name}: ${JSON.stringify(s)}`).toBeGreaterThanOrEqual(3);
    // The faults did cause resends and redeliveries, which the inbox absorbed.
    console.log(
      `faults: ${JSON.stringify({
        resent: stats.direct.resent + stats.relay.resent,
        duplicatesSkipped: stats.consumer.outcomes.duplicate,
        outbox: outbox.stats(),
        reconnects: [stats.direct.reconnects, stats.relay.reconnects, stats.consumer.reconnects],
      })}`,
    );
  });
});
