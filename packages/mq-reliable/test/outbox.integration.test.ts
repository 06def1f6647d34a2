// The transactional outbox on the real PostgreSQL and RabbitMQ: a message exists exactly when
// its transaction committed, is relayed with confirms and marked sent, keeps a key's order
// across several relays, waits behind a failed row of its key, survives the process dying
// between commit and publish, and is pruned once sent.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createOutbox,
  createPublisher,
  inboxSchemaSql,
  outboxSchemaSql,
  type Outbox,
  type Publisher,
} from '../dist/index.js';
import { createTestDatabase, drain, names, serviceUrls, waitFor } from './helpers.js';

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let pool: pg.Pool;
const closers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  db = await createTestDatabase('mq_outbox');
  pool = new pg.Pool({ connectionString: db.url, max: 12 });
  // drop() terminates what pool.end() has not finished closing.
  pool.on('error', () => undefined);
  await createOutbox({ pool }).migrate();
  await pool.query('CREATE TABLE orders (id text PRIMARY KEY, status text NOT NULL)');
});
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  await pool.query('TRUNCATE meskit_outbox, orders');
});
afterAll(async () => {
  await pool.end();
  await db.drop();
});

function topology(exchange: string, queue: string) {
  return {
    exchanges: [{ name: exchange }],
    queues: [{ name: queue }],
    bindings: [{ queue, exchange, pattern: 'order.#' }],
  };
}

function publisherFor(exchange: string, queue: string): Publisher {
  const p = createPublisher({
    url: serviceUrls().amqpUrl,
    registry: new Registry(),
    topology: topology(exchange, queue),
  });
  closers.push(() => p.close());
  return p;
}

function outboxWith(opts: Partial<Parameters<typeof createOutbox>[0]>): Outbox {
  const o = createOutbox({ pool, registry: new Registry(), ...opts });
  closers.push(() => o.close());
  return o;
}

/** Reads `queue` once `publisher` has declared it. */
async function reader(publisher: Publisher, queue: string, exchange: string) {
  await publisher.ready();
  const r = await drain(serviceUrls().amqpUrl, queue);
  closers.push(() => r.close(exchange));
  return r;
}

/** Writes an order and its event in one transaction; `fail` rolls it back after the enqueue. */
async function writeOrder(
  outbox: Outbox,
  exchange: string,
  id: string,
  key?: string,
  fail = false,
) {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query("INSERT INTO orders (id, status) VALUES ($1, 'CREATED')", [id]);
    await outbox.enqueue(
      client,
      exchange,
      'order.created',
      { orderId: id },
      {
        messageId: id,
        ...(key ? { orderingKey: key } : {}),
      },
    );
    await client.query(fail ? 'ROLLBACK' : 'COMMIT');
  } finally {
    client.release();
  }
}

describe('createOutbox', () => {
  it('ships its migration file with the same statements it runs', () => {
    const file = readFileSync(new URL('../migrations/0001_meskit_mq.sql', import.meta.url), 'utf8');
    expect(file).toContain(outboxSchemaSql());
    expect(file).toContain(inboxSchemaSql());
  });

  it('publishes a committed message (woken by NOTIFY), never a rolled-back one; rows marked sent carry the LSN token', async () => {
    const { exchange, queue } = names('outbox');
    const publisher = publisherFor(exchange, queue);
    const outbox = outboxWith({ publisher, relay: { pollIntervalMs: 60_000 } });
    const r = await reader(publisher, queue, exchange);
    await writeOrder(outbox, exchange, 'kept-1');
    await writeOrder(outbox, exchange, 'dropped', undefined, true);
    await writeOrder(outbox, exchange, 'kept-2');
    // The poll is a minute away: only the commit's NOTIFY can have woken the relay.
    await waitFor('both committed messages consumed', () => r.ids.length >= 2);
    expect(r.ids.sort()).toEqual(['kept-1', 'kept-2']);
    const lsn = r.headers[0]?.['x-meskit-lsn'];
    expect(String(lsn)).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(r.headers[0]?.['message-id']).toBe(r.ids[0]);
    await waitFor('rows marked sent', async () => (await outbox.backlog()).pending === 0);
    const { rows } = await pool.query<{ sent: number }>(
      'SELECT count(*)::int AS sent FROM meskit_outbox WHERE sent_at IS NOT NULL',
    );
    expect(rows[0]?.sent).toBe(2);
    expect(outbox.stats()).toMatchObject({ sent: 2, failed: 0, relaying: true });
  });

  it('the LSN token is past the commit even when the transaction committed asynchronously', async () => {
    // With synchronous_commit off, a commit is visible before its WAL is written: a token taken
    // from the write position (pg_current_wal_lsn) could be older than the commit, and a
    // consumer reading a replica through db-router would read the state before it.
    const { exchange, queue } = names('async-commit');
    const publisher = publisherFor(exchange, queue);
    const outbox = outboxWith({ publisher, relay: { pollIntervalMs: 60_000 } });
    const r = await reader(publisher, queue, exchange);
    const client = await pool.connect();
    let before: string;
    try {
      await client.query('BEGIN');
      await client.query('SET LOCAL synchronous_commit = off');
      await client.query("INSERT INTO orders (id, status) VALUES ('async-1', 'CREATED')");
      await outbox.enqueue(client, exchange, 'order.created', { orderId: 'async-1' });
      // Where the transaction's own WAL has reached: its commit record ends after this.
      const { rows } = await client.query<{ lsn: string }>(
        'SELECT pg_current_wal_insert_lsn()::text AS lsn',
      );
      before = rows[0]!.lsn;
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    await waitFor('the message consumed', () => r.ids.length >= 1);
    const token = String(r.headers[0]?.['x-meskit-lsn']);
    const { rows } = await pool.query<{ past: boolean }>('SELECT $1::pg_lsn > $2::pg_lsn AS past', [
      token,
      before,
    ]);
    expect(rows[0]?.past, `token ${token}, the transaction's WAL reached ${before}`).toBe(true);
  });

  it('three relays at once keep every key in order and send each message once', async () => {
    const { exchange, queue } = names('ordered');
    const publisher = publisherFor(exchange, queue);
    const relays = [0, 1, 2].map(() =>
      outboxWith({ publisher, relay: { batchSize: 17, pollIntervalMs: 20 } }),
    );
    const r = await reader(publisher, queue, exchange);
    const keys = 12;
    const perKey = 25;
    const writes: Promise<void>[] = [];
    for (let n = 0; n < perKey; n++) {
      for (let k = 0; k < keys; k++)
        writes.push(writeOrder(relays[k % 3]!, exchange, `k${k}-${n}`, `k${k}`));
      await Promise.all(writes.splice(0)); // n is committed for every key before n + 1
    }
    await waitFor('every message consumed', () => new Set(r.ids).size >= keys * perKey, {
      timeoutMs: 30_000,
    });
    for (let k = 0; k < keys; k++) {
      const seen = r.ids
        .filter((id) => id.startsWith(`k${k}-`))
        .map((id) => Number(id.split('-')[1]));
      expect(seen, `key k${k}`).toEqual(Array.from({ length: perKey }, (_, n) => n));
    }
    // Counted after each round's commit, which follows the confirms the reader saw.
    const sentBy = () => relays.map((o) => o.stats().sent);
    await waitFor(
      'every row marked sent',
      () => sentBy().reduce((a, b) => a + b, 0) === keys * perKey,
    );
    expect(sentBy().filter((n) => n > 0).length).toBeGreaterThan(1); // the work was shared
  });

  it('a failed publish leaves the row pending with its error, and its key waits behind it', async () => {
    const { exchange, queue } = names('failing');
    const publisher = publisherFor(exchange, queue);
    const outbox = outboxWith({
      publisher,
      relay: { listen: false, pollIntervalMs: 60_000, retryMinMs: 60_000 },
    });
    const r = await reader(publisher, queue, exchange);
    const client = await pool.connect();
    await client.query('BEGIN');
    // Unroutable: no queue is bound for "refund.*".
    await outbox.enqueue(
      client,
      exchange,
      'refund.created',
      { n: 0 },
      { messageId: 'bad', orderingKey: 'o1' },
    );
    await outbox.enqueue(
      client,
      exchange,
      'order.created',
      { n: 1 },
      { messageId: 'after', orderingKey: 'o1' },
    );
    await outbox.enqueue(
      client,
      exchange,
      'order.created',
      { n: 2 },
      { messageId: 'other', orderingKey: 'o2' },
    );
    await client.query('COMMIT');
    client.release();
    expect(await outbox.relayOnce()).toMatchObject({ taken: 3, sent: 1, failed: 1 });
    await waitFor('the other key consumed', () => r.ids.length === 1);
    expect(r.ids).toEqual(['other']);
    const { rows } = await pool.query<{
      message_id: string;
      attempts: number;
      last_error: string | null;
      later: boolean;
    }>(
      `SELECT message_id, attempts, last_error, available_at > now() + interval '30 seconds' AS later
         FROM meskit_outbox WHERE sent_at IS NULL ORDER BY id`,
    );
    expect(rows.map((row) => row.message_id)).toEqual(['bad', 'after']);
    expect(rows[0]).toMatchObject({ attempts: 1, later: true });
    expect(rows[0]?.last_error).toMatch(/returned: no queue is bound/);
    // The retry is not due: "after" stays behind "bad" in the next rounds.
    expect(await outbox.relayOnce()).toMatchObject({ sent: 0 });
    expect(r.ids).toEqual(['other']);
  });

  it('the process SIGKILLed between commit and publish: the next relay delivers the message', async () => {
    const { exchange, queue } = names('killed');
    const publisher = publisherFor(exchange, queue);
    const r = await reader(publisher, queue, exchange);
    const child = spawn(
      process.execPath,
      [
        fileURLToPath(new URL('./fixtures/commit-then-die.mjs', import.meta.url)),
        db.url,
        serviceUrls().amqpUrl,
        exchange,
        'survivor',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const signal = await new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('exit', (_, s) => resolve(s)),
    );
    expect(signal).toBe('SIGKILL');
    expect(out).toContain('committed');
    const { rows } = await pool.query('SELECT sent_at FROM meskit_outbox WHERE message_id = $1', [
      'survivor',
    ]);
    expect(rows).toEqual([{ sent_at: null }]); // committed, never published
    expect(r.ids).toEqual([]);
    outboxWith({ publisher }); // the restarted process's relay
    await waitFor('the survivor consumed', () => r.ids.includes('survivor'));
    expect(r.ids).toEqual(['survivor']);
  });

  it('prunes sent rows past their retention, never pending ones', async () => {
    const { exchange, queue } = names('prune');
    const publisher = publisherFor(exchange, queue);
    const writer = outboxWith({});
    await writeOrder(writer, exchange, 'old-1');
    await writeOrder(writer, exchange, 'old-2');
    const r = await reader(publisher, queue, exchange);
    const outbox = outboxWith({
      publisher,
      relay: { pollIntervalMs: 10 },
      prune: { retentionMs: 0, intervalMs: 1 },
    });
    await waitFor('sent rows pruned', async () => {
      const { rows } = await pool.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM meskit_outbox',
      );
      return rows[0]?.n === 0;
    });
    expect(r.ids.sort()).toEqual(['old-1', 'old-2']);
    expect(outbox.stats().sent).toBe(2);
  });

  it('refuses bad options with INVALID_OPTION', () => {
    expect(() => createOutbox({ pool: {} as pg.Pool })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION', option: 'pool' }),
    );
    expect(() => createOutbox({ pool, table: 'x; drop table y' })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION', option: 'table' }),
    );
    expect(() => createOutbox({ pool, relay: { retryMinMs: 10, retryMaxMs: 5 } })).toThrow(
      expect.objectContaining({ option: 'relay.retryMaxMs' }),
    );
  });
});
