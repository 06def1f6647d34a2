// createOutbox: messages written in the caller's PostgreSQL transaction (they exist exactly
// when the business change does) and relayed to RabbitMQ with confirms by a loop that wakes on
// commit (LISTEN/NOTIFY) or on a poll. The outbox is the durable buffer: a broker outage, a
// publisher restart or a process killed between commit and publish loses nothing.
import { randomUUID } from 'node:crypto';
import { describeError, emitWarning, getRegistry, MESSAGE_HEADERS } from '@meskit/kernel';
import { outboxMetrics } from '../internal/metrics.js';
import type { PooledClient, Queryable } from '../internal/sql.js';
import { withTraceContext } from '../internal/trace-context.js';
import { resolveOutboxOptions, type OutboxOptions } from './options.js';
import { backlog, pruneSent, relayRound, type RoundResult } from './relay.js';
import { outboxSchemaSql } from './schema.js';

const WARN_RELAY = 'MESKIT_MQ_OUTBOX_RELAY_FAILING';

export interface EnqueueOptions {
  /** The idempotency key. Default: a random UUID. Enqueueing an id twice fails (unique). */
  messageId?: string;
  /** Extra headers; the current trace context is added. */
  headers?: Record<string, string>;
  /**
   * Messages with the same key are published in the order they were written, even with
   * several relays. Default: none (no ordering among them).
   */
  orderingKey?: string;
  /** Default: `'application/json'` for an object body. */
  contentType?: string;
}

export interface OutboxStats {
  relaying: boolean;
  /** Rounds that sent or failed something, and their totals since start. */
  rounds: number;
  sent: number;
  failed: number;
  /** The last round's error, when the relay cannot reach the database. */
  lastError: string | undefined;
}

export interface Outbox {
  /**
   * Writes the message in the transaction of `client` (a pg client between BEGIN and COMMIT):
   * it is published once that transaction commits, and never if it rolls back.
   */
  enqueue(
    client: Queryable,
    exchange: string,
    routingKey: string,
    body: unknown,
    opts?: EnqueueOptions,
  ): Promise<{ messageId: string }>;
  /** Creates the table and its indexes (IF NOT EXISTS). */
  migrate(): Promise<void>;
  /** Runs one relay round now (tests, `meskit mq outbox flush`). */
  relayOnce(): Promise<RoundResult>;
  /** Pending rows and the age of the oldest. */
  backlog(): Promise<{ pending: number; oldestAgeSeconds: number }>;
  stats(): OutboxStats;
  /** Stops the relay after its current round. Safe to call twice. The pool stays open. */
  close(): Promise<void>;
}

export function createOutbox(opts: OutboxOptions): Outbox {
  const o = resolveOutboxOptions(opts);
  const { pool, publisher } = opts;
  const metrics = outboxMetrics(opts.registry ?? getRegistry(), o.table);
  let closing = false;
  let wake: (() => void) | undefined;
  /** A NOTIFY came since the last round began: the next round starts without a pause. */
  let notified = false;
  let listener: PooledClient | undefined;
  let lastPrune = Date.now();
  let failing = false;
  const stats: OutboxStats = {
    relaying: publisher !== undefined,
    rounds: 0,
    sent: 0,
    failed: 0,
    lastError: undefined,
  };

  const insert = `WITH row AS (
      INSERT INTO ${o.table} (message_id, exchange, routing_key, ordering_key, headers, content, content_type)
      VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING 1)
    SELECT pg_notify('${o.channel}', '') FROM row`;

  async function enqueue(
    client: Queryable,
    exchange: string,
    routingKey: string,
    body: unknown,
    eopts: EnqueueOptions = {},
  ): Promise<{ messageId: string }> {
    if (typeof exchange !== 'string' || typeof routingKey !== 'string')
      throw new TypeError('enqueue: exchange and routingKey must be strings');
    const messageId = eopts.messageId ?? randomUUID();
    let content: Buffer;
    let contentType = eopts.contentType;
    if (Buffer.isBuffer(body)) content = body;
    else if (typeof body === 'string') content = Buffer.from(body);
    else {
      content = Buffer.from(JSON.stringify(body));
      contentType ??= 'application/json';
    }
    const headers = withTraceContext({ ...eopts.headers, [MESSAGE_HEADERS.messageId]: messageId });
    await client.query(insert, [
      messageId,
      exchange,
      routingKey,
      eopts.orderingKey ?? null,
      JSON.stringify(headers),
      content,
      contentType ?? null,
    ]);
    return { messageId };
  }

  /** Gives the listening connection back: destroyed when it broke, kept otherwise. */
  function dropListener(client: PooledClient, broken: boolean): void {
    if (listener !== client) return;
    listener = undefined;
    client.removeAllListeners?.('notification');
    client.release(broken);
  }

  async function listen(): Promise<void> {
    if (!o.listen || listener || closing) return;
    const client = await pool.connect();
    // The listening connection died: poll until the next round opens another. The handler
    // stays after release: pg emits errors of an idle pooled client here too.
    client.on?.('error', () => dropListener(client, true));
    client.on?.('notification', () => {
      notified = true;
      wake?.();
    });
    listener = client;
    try {
      await client.query(`LISTEN ${o.channel}`);
    } catch (error) {
      dropListener(client, true);
      throw error;
    }
  }

  async function round(): Promise<RoundResult> {
    if (!publisher)
      throw new Error('relayOnce: this outbox has no publisher (createOutbox({ publisher }))');
    const result = await relayRound(pool, publisher, o);
    if (result.sent + result.failed > 0) stats.rounds += 1;
    stats.sent += result.sent;
    stats.failed += result.failed;
    metrics.relayed.inc({ outcome: 'sent' }, result.sent);
    metrics.relayed.inc({ outcome: 'failed' }, result.failed);
    return result;
  }

  async function refreshGauges(): Promise<void> {
    const b = await backlog(pool, o.table);
    metrics.pending.set(b.pending);
    metrics.oldestAge.set(b.oldestAgeSeconds);
  }

  let lastGauges = 0;
  async function loop(): Promise<void> {
    let delay = 0;
    while (!closing) {
      if (delay > 0 && !notified) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, delay);
          function done(): void {
            clearTimeout(timer);
            wake = undefined;
            resolve();
          }
          wake = done;
        });
        if (closing) return;
      }
      try {
        await listen().catch(() => undefined); // polling still works without it
        notified = false;
        const result = await round();
        if (Date.now() - lastGauges >= 1_000) {
          lastGauges = Date.now();
          await refreshGauges();
        }
        if (o.retentionMs >= 0 && Date.now() - lastPrune >= o.pruneIntervalMs) {
          lastPrune = Date.now();
          metrics.pruned.inc(await pruneSent(pool, o));
        }
        failing = false;
        stats.lastError = undefined;
        // A full batch: more are waiting, go on at once.
        delay = result.taken === o.batchSize && result.held < result.taken ? 0 : o.pollIntervalMs;
      } catch (error) {
        stats.lastError =
          (error as { code?: string }).code === '42P01'
            ? `table ${o.table} does not exist: run outbox.migrate() or the package's migrations/0001_meskit_mq.sql`
            : describeError(error);
        if (!failing) {
          failing = true;
          emitWarning(
            WARN_RELAY,
            `mq-reliable: the outbox relay of ${o.table} failed (${stats.lastError}); rows stay pending and it retries every ${o.pollIntervalMs} ms. Said once until it recovers.`,
          );
        }
        delay = o.pollIntervalMs;
      }
    }
  }

  const running = publisher ? loop() : Promise.resolve();

  let closed: Promise<void> | undefined;
  return {
    enqueue,
    async migrate() {
      await pool.query(outboxSchemaSql(o.table));
    },
    relayOnce: round,
    backlog: () => backlog(pool, o.table),
    stats: () => ({ ...stats }),
    close() {
      closed ??= (async () => {
        closing = true;
        wake?.();
        await running;
        const client = listener;
        if (client) {
          await client.query(`UNLISTEN ${o.channel}`).catch(() => undefined);
          dropListener(client, false);
        }
        metrics.detach();
      })();
      return closed;
    },
  };
}
