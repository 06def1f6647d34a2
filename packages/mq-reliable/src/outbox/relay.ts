// The outbox relay: rounds of "lock a batch of pending rows (FOR UPDATE SKIP LOCKED), publish
// them with confirms, mark the confirmed ones sent, commit". Several relays share a table; a
// key's messages never overtake each other: a row waits while an older pending row of its
// key is held by another relay or waits for a retry. A relay that dies mid-round leaves its
// rows pending (its transaction rolls back): the next round sends them again, with the same
// message-id.
import { MESSAGE_HEADERS } from '@meskit/kernel';
import type { Publisher } from '../types.js';
import { inTransaction, type PooledClient, type PoolLike } from '../internal/sql.js';
import type { ResolvedOutboxOptions } from './options.js';

interface Row {
  id: string;
  message_id: string;
  exchange: string;
  routing_key: string;
  ordering_key: string | null;
  headers: Record<string, unknown>;
  content: Buffer;
  content_type: string | null;
  attempts: number;
}

export interface RoundResult {
  /** Rows locked this round. */
  taken: number;
  sent: number;
  failed: number;
  /** Rows left for a later round: an older row of their key is pending elsewhere. */
  held: number;
}

interface Failure {
  id: string;
  error: string;
}

function retryDelayMs(o: ResolvedOutboxOptions, attempts: number): number {
  return Math.min(o.retryMaxMs, o.retryMinMs * 2 ** Math.min(attempts, 30));
}

/** Rows of each key this round may send: those older than the key's first row held elsewhere. */
async function sendable(client: PooledClient, table: string, rows: Row[]): Promise<Set<string>> {
  const keys = [...new Set(rows.flatMap((r) => (r.ordering_key === null ? [] : [r.ordering_key])))];
  const ok = new Set(rows.filter((r) => r.ordering_key === null).map((r) => r.id));
  if (keys.length === 0) return ok;
  const { rows: firsts } = await client.query<{ key: string; first: string | null }>(
    `SELECT k.key, (SELECT min(o.id) FROM ${table} o
        WHERE o.ordering_key = k.key AND o.sent_at IS NULL AND NOT (o.id = ANY($2::bigint[]))
      )::text AS first
     FROM unnest($1::text[]) AS k(key)`,
    [keys, rows.map((r) => r.id)],
  );
  const blockedFrom = new Map(
    firsts.map((f) => [f.key, f.first === null ? null : BigInt(f.first)]),
  );
  for (const row of rows) {
    if (row.ordering_key === null) continue;
    const first = blockedFrom.get(row.ordering_key);
    if (first === null || first === undefined || BigInt(row.id) < first) ok.add(row.id);
  }
  return ok;
}

/** One round in its own transaction. */
export async function relayRound(
  pool: PoolLike,
  publisher: Publisher,
  o: ResolvedOutboxOptions,
): Promise<RoundResult> {
  return inTransaction(pool, async (client) => {
    const { rows } = await client.query<Row>(
      // ORDER BY the bigint column (t.id), not the text output column of the same name.
      `SELECT t.id::text AS id, message_id, exchange, routing_key, ordering_key, headers, content,
              content_type, attempts
         FROM ${o.table} AS t
        WHERE sent_at IS NULL AND available_at <= now()
        ORDER BY t.id
        LIMIT $1
        FOR UPDATE SKIP LOCKED`,
      [o.batchSize],
    );
    if (rows.length === 0) return { taken: 0, sent: 0, failed: 0, held: 0 };
    const ok = await sendable(client, o.table, rows);
    // The primary's WAL insert position now is past every commit that wrote these rows: the
    // read-your-writes token for a consumer that reads what the event is about. Not the write
    // position (pg_current_wal_lsn): an asynchronous commit (synchronous_commit = off) is
    // visible before its WAL is written, so the write position can lie before it.
    const { rows: lsnRows } = await client.query<{ lsn: string | null }>(
      'SELECT CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_insert_lsn()::text END AS lsn',
    );
    const lsn = lsnRows[0]?.lsn ?? undefined;
    const sent: string[] = [];
    const failed: Failure[] = [];
    const send = async (row: Row): Promise<boolean> => {
      const headers = { ...row.headers };
      if (lsn !== undefined && headers[MESSAGE_HEADERS.lsn] === undefined)
        headers[MESSAGE_HEADERS.lsn] = lsn;
      try {
        await publisher.publish(row.exchange, row.routing_key, row.content, {
          messageId: row.message_id,
          headers,
          timeoutMs: o.publishTimeoutMs,
          ...(row.content_type ? { contentType: row.content_type } : {}),
        });
        sent.push(row.id);
        return true;
      } catch (error) {
        failed.push({ id: row.id, error: error instanceof Error ? error.message : String(error) });
        return false;
      }
    };
    // Unordered rows all at once; each key's rows one after the other, stopping at a failure
    // (the rest of the key waits behind the failed row).
    const chains = new Map<string, Row[]>();
    const work: Promise<unknown>[] = [];
    for (const row of rows) {
      if (!ok.has(row.id)) continue;
      if (row.ordering_key === null) work.push(send(row));
      else chains.set(row.ordering_key, [...(chains.get(row.ordering_key) ?? []), row]);
    }
    for (const chain of chains.values()) {
      work.push(
        (async () => {
          for (const row of chain) if (!(await send(row))) return;
        })(),
      );
    }
    await Promise.all(work);
    if (sent.length > 0)
      await client.query(
        `UPDATE ${o.table} SET sent_at = now(), attempts = attempts + 1, last_error = NULL
          WHERE id = ANY($1::bigint[])`,
        [sent],
      );
    if (failed.length > 0) {
      const attemptsOf = new Map(rows.map((r) => [r.id, r.attempts]));
      await client.query(
        `UPDATE ${o.table} AS t
            SET attempts = t.attempts + 1, last_error = f.error,
                available_at = now() + make_interval(secs => f.delay_ms / 1000.0)
           FROM unnest($1::bigint[], $2::text[], $3::float8[]) AS f(id, error, delay_ms)
          WHERE t.id = f.id`,
        [
          failed.map((f) => f.id),
          failed.map((f) => f.error.slice(0, 2_000)),
          failed.map((f) => retryDelayMs(o, attemptsOf.get(f.id) ?? 0)),
        ],
      );
    }
    return {
      taken: rows.length,
      sent: sent.length,
      failed: failed.length,
      held: rows.length - ok.size,
    };
  });
}

/** Deletes sent rows older than the retention, a bounded batch at a time. */
export async function pruneSent(pool: PoolLike, o: ResolvedOutboxOptions): Promise<number> {
  let total = 0;
  for (;;) {
    const result = await pool.query(
      `DELETE FROM ${o.table} WHERE id IN (
         SELECT id FROM ${o.table}
          WHERE sent_at IS NOT NULL AND sent_at < now() - make_interval(secs => $1 / 1000.0)
          LIMIT 5000)`,
      [o.retentionMs],
    );
    total += result.rowCount ?? 0;
    if ((result.rowCount ?? 0) < 5000) return total;
  }
}

/** Pending rows and the age of the oldest, for the metrics and `stats()`. */
export async function backlog(
  pool: PoolLike,
  table: string,
): Promise<{ pending: number; oldestAgeSeconds: number }> {
  const { rows } = await pool.query<{ pending: string; age: number | null }>(
    // The hint keeps db-router (when the pool is one) from answering it from a replica.
    `/* meskit:primary */ SELECT count(*)::text AS pending,
            extract(epoch FROM now() - min(created_at))::float8 AS age
       FROM ${table} WHERE sent_at IS NULL`,
  );
  return { pending: Number(rows[0]?.pending ?? 0), oldestAgeSeconds: rows[0]?.age ?? 0 };
}
