// The fault scenario shared by the single-broker and the cluster tests: `total` messages, half
// published directly (at most WINDOW outstanding, every outcome recorded) and half written to
// the outbox by four writers (10 rows per transaction), consumed with a PostgreSQL inbox whose
// handler records one effect row per message; `faults` run one after the other, each once the
// traffic has progressed and every client is connected again, so each lands on a live system.
import type pg from 'pg';
import { Registry } from 'prom-client';
import {
  createConsumer,
  createOutbox,
  createPublisher,
  pgInbox,
  type ConsumerStats,
  type OutboxStats,
  type PublisherStats,
} from '../dist/index.js';
import { waitFor } from './helpers.js';

const WINDOW = 400;

export interface ScenarioResult {
  /** Direct publishes: message-id to 'confirmed' or the error code the caller got. */
  outcomes: Map<string, string>;
  /** Outbox rows whose transaction committed. */
  committed: string[];
  /** Effect rows: all of them and the distinct message-ids. */
  effects: { total: number; distinct: number; ids: Set<string> };
  stats: {
    direct: PublisherStats;
    relay: PublisherStats;
    consumer: ConsumerStats;
    outbox: OutboxStats;
  };
}

export async function runFaultScenario(opts: {
  pool: pg.Pool;
  urls: string | readonly string[];
  queueType: 'quorum' | 'classic';
  total: number;
  exchange: string;
  queue: string;
  faults: readonly (() => Promise<void>)[];
  closers: (() => Promise<void>)[];
}): Promise<ScenarioResult> {
  const { pool, total } = opts;
  const direct = total / 2;
  const resilient = {
    heartbeatSeconds: 2,
    reconnectMinMs: 50,
    reconnectMaxMs: 500,
    connectTimeoutMs: 2_000,
  };
  const registry = new Registry();
  await pool.query('CREATE TABLE IF NOT EXISTS effects (message_id text NOT NULL)');
  const inbox = pgInbox({ pool, consumer: 'faults' });
  await inbox.migrate();
  await createOutbox({ pool, registry: new Registry() }).migrate();
  const consumer = createConsumer({
    url: opts.urls,
    queue: opts.queue,
    queueType: opts.queueType,
    bindings: [{ exchange: opts.exchange, pattern: 'order.#' }],
    prefetch: 64,
    inbox,
    registry,
    ...resilient,
    async handler(message, { db: tx }) {
      await tx!.query('INSERT INTO effects (message_id) VALUES ($1)', [message.messageId]);
    },
  });
  opts.closers.push(() => consumer.close());
  await consumer.ready(60_000);
  const publisherOptions = {
    url: opts.urls,
    registry,
    topology: { exchanges: [{ name: opts.exchange }] },
    timeoutMs: 120_000,
    ...resilient,
  };
  const directPublisher = createPublisher(publisherOptions);
  const relayPublisher = createPublisher(publisherOptions);
  const outbox = createOutbox({
    pool,
    publisher: relayPublisher,
    registry,
    relay: { pollIntervalMs: 100, publishTimeoutMs: 5_000, retryMinMs: 100, retryMaxMs: 1_000 },
  });
  opts.closers.push(
    () => relayPublisher.close(),
    () => outbox.close(),
    () => directPublisher.close(),
  );

  // Direct publishes, kept abreast of the outbox writers so every fault lands on both paths.
  const outcomes = new Map<string, string>();
  const committed: string[] = [];
  let sent = 0;
  let onCommit: () => void = () => undefined;
  const directDone = (async () => {
    const inFlight = new Set<Promise<void>>();
    for (; sent < direct; sent++) {
      while (sent > committed.length + WINDOW)
        await new Promise<void>((resolve) => (onCommit = resolve));
      const id = `d-${sent}`;
      const p: Promise<void> = directPublisher
        .publish(opts.exchange, 'order.created', { id }, { messageId: id })
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

  let next = 0;
  const writer = async (): Promise<void> => {
    while (next < total - direct) {
      const ids = Array.from({ length: 10 }, () => `o-${next++}`).filter(
        (id) => Number(id.slice(2)) < total - direct,
      );
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        for (const id of ids)
          await outbox.enqueue(client, opts.exchange, 'order.created', { id }, { messageId: id });
        await client.query('COMMIT');
        committed.push(...ids);
        onCommit();
      } finally {
        client.release();
      }
    }
  };
  const writersDone = Promise.all([writer(), writer(), writer(), writer()]);

  const allConnected = () =>
    [directPublisher, relayPublisher].every((p) => p.stats().connected) &&
    consumer.stats().consuming;
  for (const [i, fault] of opts.faults.entries()) {
    await waitFor(
      `progress before fault ${i + 1}`,
      () =>
        sent + committed.length >= ((i + 1) * total) / (opts.faults.length + 2) && allConnected(),
      { timeoutMs: 120_000 },
    );
    await fault();
  }
  await Promise.all([directDone, writersDone]);
  await waitFor('the outbox drained', async () => (await outbox.backlog()).pending === 0, {
    timeoutMs: 120_000,
  });
  const confirmed = [...outcomes].filter(([, o]) => o === 'confirmed').length;
  const count = async () =>
    (
      await pool.query<{ total: number; distinct: number }>(
        'SELECT count(*)::int AS total, count(DISTINCT message_id)::int AS distinct FROM effects',
      )
    ).rows[0]!;
  await waitFor(
    'every confirmed message had its effect',
    async () => (await count()).distinct >= confirmed + committed.length,
    {
      timeoutMs: 120_000,
    },
  );
  await waitFor('every client connected after the last fault', allConnected, { timeoutMs: 60_000 });
  const { rows } = await pool.query<{ message_id: string }>('SELECT message_id FROM effects');
  return {
    outcomes,
    committed,
    effects: { ...(await count()), ids: new Set(rows.map((r) => r.message_id)) },
    stats: {
      direct: directPublisher.stats(),
      relay: relayPublisher.stats(),
      consumer: consumer.stats(),
      outbox: outbox.stats(),
    },
  };
}
