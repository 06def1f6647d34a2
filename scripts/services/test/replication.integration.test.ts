import { mkdtempSync, chmodSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startPostgres, type PostgresPair } from '@meskit/services';

async function query<T extends pg.QueryResultRow>(
  url: string,
  text: string,
  values?: unknown[],
): Promise<T[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  client.on('error', () => {});
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

describe('the shared PostgreSQL pair', () => {
  it('streams writes on the primary to the replica, which is read-only', async () => {
    const { DATABASE_URL, DATABASE_REPLICA_URL } = inject('services');
    if (!DATABASE_URL || !DATABASE_REPLICA_URL)
      throw new Error('the global setup did not start PostgreSQL');
    const table = `replication_probe_${process.pid}_${Date.now()}`;
    await query(DATABASE_URL, `CREATE TABLE ${table} (id int PRIMARY KEY, note text)`);
    await query(DATABASE_URL, `INSERT INTO ${table} VALUES (1, 'written on the primary')`);
    const [lsn] = await query<{ lsn: string }>(
      DATABASE_URL,
      'SELECT pg_current_wal_insert_lsn()::text AS lsn',
    );
    // Poll the replica until it has replayed that far: an event to await, not a sleep.
    for (let attempt = 0; ; attempt++) {
      const [row] = await query<{ caught: boolean }>(
        DATABASE_REPLICA_URL,
        'SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS caught',
        [lsn?.lsn],
      );
      if (row?.caught) break;
      if (attempt > 300) throw new Error('the replica never replayed the write');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(await query(DATABASE_REPLICA_URL, `SELECT note FROM ${table}`)).toEqual([
      { note: 'written on the primary' },
    ]);
    const [recovery] = await query<{ standby: boolean }>(
      DATABASE_REPLICA_URL,
      'SELECT pg_is_in_recovery() AS standby',
    );
    expect(recovery?.standby).toBe(true);
    await expect(
      query(DATABASE_REPLICA_URL, `INSERT INTO ${table} VALUES (2, 'no')`),
    ).rejects.toThrow(/read-only/);
    await query(DATABASE_URL, `DROP TABLE ${table}`);
  });
});

describe('a private PostgreSQL pair under faults', () => {
  let dir: string;
  let pair: PostgresPair;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'meskit-pg-faults-'));
    chmodSync(dir, 0o755);
    pair = await startPostgres({ dir });
    await pair.primary.query('CREATE TABLE t (id serial PRIMARY KEY, v text)');
    await pair.waitForReplay();
  });

  afterAll(async () => {
    await pair?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('holds changes back on the replica while an apply delay is set', async () => {
    await pair.setReplicaApplyDelay(60_000);
    await pair.primary.query("INSERT INTO t (v) VALUES ('delayed')");
    // The WAL arrives (the receiver flushes it) but is not applied.
    const flushed = await pair.primary.query<{ lsn: string }>(
      'SELECT pg_current_wal_insert_lsn()::text AS lsn',
    );
    for (let attempt = 0; ; attempt++) {
      const { rows } = await pair.replica!.query<{ ok: boolean }>(
        'SELECT pg_last_wal_receive_lsn() >= $1::pg_lsn AS ok',
        [flushed.rows[0]?.lsn],
      );
      if (rows[0]?.ok) break;
      if (attempt > 300) throw new Error('the replica never received the WAL');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const before = await pair.replica!.query(
      "SELECT count(*)::int AS n FROM t WHERE v = 'delayed'",
    );
    expect(before.rows[0]).toEqual({ n: 0 });
    await pair.setReplicaApplyDelay(0);
    await pair.waitForReplay();
    const after = await pair.replica!.query("SELECT count(*)::int AS n FROM t WHERE v = 'delayed'");
    expect(after.rows[0]).toEqual({ n: 1 });
  });

  it('detects a stopped replica and streams again once it is back', async () => {
    await pair.replica!.stop();
    expect(pair.replica!.isRunning()).toBe(false);
    await expect(pair.replica!.query('SELECT 1')).rejects.toThrow(/ECONNREFUSED|connect/);
    for (let attempt = 0; await pair.replicaStreaming(); attempt++) {
      if (attempt > 300) throw new Error('the primary still reports a streaming replica');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await pair.primary.query("INSERT INTO t (v) VALUES ('while the replica was down')");
    await pair.replica!.start();
    await pair.waitForReplay();
    const { rows } = await pair.replica!.query(
      "SELECT count(*)::int AS n FROM t WHERE v = 'while the replica was down'",
    );
    expect(rows[0]).toEqual({ n: 1 });
  });

  it('promotes the replica after the primary is killed', async () => {
    await pair.primary.kill();
    expect(pair.primary.isRunning()).toBe(false);
    await pair.replica!.promote();
    const { rows } = await pair.replica!.query<{ standby: boolean }>(
      'SELECT pg_is_in_recovery() AS standby',
    );
    expect(rows[0]?.standby).toBe(false);
    await pair.replica!.query("INSERT INTO t (v) VALUES ('on the promoted replica')");
    const count = await pair.replica!.query('SELECT count(*)::int AS n FROM t');
    expect(count.rows[0]).toEqual({ n: 3 });
  });
});
