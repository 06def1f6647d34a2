// The router on a primary and its streaming replica of its own (scripts/services): where each
// statement class goes (volatility read from pg_proc), read-your-writes with an apply delay on
// the replica (in one context, and across a hop that carries the token), the replica killed
// under reads, the primary killed (reads go on, writes fail fast), and the replica promoted.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPostgres, type PostgresPair } from '@meskit/services';
import { waitFor } from '@meskit/testkit';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRouter, DbRouterError, type RouteDecision, type Router } from '../dist/index.js';

let dir: string;
let pair: PostgresPair;
let router: Router;
const decisions: RouteDecision[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'meskit-db-router-'));
  chmodSync(dir, 0o755); // PostgreSQL runs as the postgres user and must traverse this folder
  pair = await startPostgres({ dir });
  await pair.primary.query(`CREATE TABLE items (id bigserial PRIMARY KEY, n int NOT NULL);
    CREATE FUNCTION bump(x int) RETURNS int VOLATILE LANGUAGE sql AS 'SELECT x + 1';
    CREATE FUNCTION twice(x int) RETURNS int STABLE LANGUAGE sql AS 'SELECT x * 2'`);
  await pair.waitForReplay();
  router = createRouter({
    primary: pair.primary.url,
    replicas: [pair.replica!.url],
    pollIntervalMs: 20,
    registry: new Registry(),
    readYourWrites: { waitMs: 2_000 },
    onDecision: (d) => decisions.push(d),
  });
  await waitFor('the replica in service', () => router.stats().servers[1]?.inService === true);
}, 120_000);

afterAll(async () => {
  await router?.end();
  await pair?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function routed(sql: string, values?: unknown[]): Promise<string> {
  decisions.length = 0;
  await router.query(sql, values);
  return decisions.map((d) => `${d.target}:${d.reason}`).join(',');
}

describe('createRouter on a real primary and streaming replica', () => {
  it('routes each statement class', async () => {
    // Volatility comes from pg_proc once loaded: until then any call goes to the primary.
    await waitFor(
      'volatile functions known',
      async () => (await routed('SELECT twice(2)')) === 'replica:read',
    );
    expect(await routed('SELECT n FROM items WHERE id = $1', [1])).toBe('replica:read');
    expect(await routed('INSERT INTO items (n) VALUES ($1)', [1])).toBe('primary:write');
    expect(await routed("SELECT nextval('items_id_seq')")).toBe('primary:volatile');
    expect(await routed('SELECT bump(1)')).toBe('primary:volatile');
    expect(await routed('SELECT random()')).toBe('primary:volatile');
    expect(
      await routed(
        'WITH m AS (UPDATE items SET n = n + 1 WHERE id = 1 RETURNING n) SELECT n FROM m',
      ),
    ).toBe('primary:modifying-cte');
    expect(await routed('SELECT n FROM items WHERE id = 1 FOR UPDATE')).toBe('primary:locking');
    expect(await routed('/* meskit:primary */ SELECT 1')).toBe('primary:hint');
    decisions.length = 0;
    await router.primary().query('SELECT 1');
    expect(decisions.map((d) => d.reason)).toEqual(['forced']);
    // A read inside a read-write transaction is the transaction's: the primary.
    const client = await router.connect();
    decisions.length = 0;
    try {
      await client.query('BEGIN');
      await client.query('SELECT n FROM items');
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    expect(decisions.map((d) => d.target)).toEqual(['primary', 'primary', 'primary']);
  });

  it(
    'read-your-writes: 0 stale reads with a 300 ms apply delay, while reads without a context still use the replica',
    { timeout: 120_000 },
    async () => {
      await pair.setReplicaApplyDelay(300);
      try {
        let stale = 0;
        for (let i = 0; i < 40; i++) {
          await router.context(async () => {
            const { rows } = await router.query<{ id: string }>(
              'INSERT INTO items (n) VALUES ($1) RETURNING id',
              [i],
            );
            const read = await router.query<{ n: number }>('SELECT n FROM items WHERE id = $1', [
              rows[0]!.id,
            ]);
            if (read.rows[0]?.n !== i) stale += 1;
          });
        }
        expect(stale).toBe(0);
        // Across a hop: the writer hands its token on; the reader is another context.
        const token = await router.context(async () => {
          await router.query('INSERT INTO items (n) VALUES ($1)', [-7]);
          return router.token();
        });
        expect(token).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
        const seen = await router.context(
          async () =>
            (await router.query<{ n: number }>('SELECT count(*)::int AS n FROM items WHERE n = -7'))
              .rows[0]?.n,
          { token },
        );
        expect(seen).toBe(1);
        // Reads carrying nothing are not held back: they go to the replica.
        decisions.length = 0;
        await router.query('SELECT count(*) FROM items');
        expect(decisions.map((d) => d.target)).toEqual(['replica']);
        expect(
          router.stats().readYourWrites.waited + router.stats().readYourWrites.fallback,
        ).toBeGreaterThan(0);
        expect(() => router.context(() => 1, { token: 'yesterday' })).toThrow(
          expect.objectContaining({ code: 'INVALID_TOKEN' }),
        );
      } finally {
        await pair.setReplicaApplyDelay(0);
      }
    },
  );

  it(
    'the replica killed under reads: 0 failed reads; back in service once restarted',
    { timeout: 120_000 },
    async () => {
      await pair.waitForReplay();
      let failed = 0;
      let done = 0;
      let stop = false;
      const readers = Array.from({ length: 4 }, async () => {
        while (!stop) {
          try {
            await router.query('SELECT count(*) FROM items');
            done += 1;
          } catch {
            failed += 1;
          }
        }
      });
      await waitFor('reads flowing', () => done > 50);
      await pair.replica!.kill();
      await waitFor(
        'the replica out of service',
        () => router.stats().servers[1]?.inService === false,
      );
      const during = done;
      await waitFor('reads going on without it', () => done > during + 50);
      stop = true;
      await Promise.all(readers);
      expect(failed).toBe(0);
      await pair.replica!.start();
      await waitFor(
        'the replica back in service',
        () => router.stats().servers[1]?.inService === true,
        { timeoutMs: 60_000 },
      );
    },
  );

  it(
    'the primary killed: reads go on, writes fail fast; the replica promoted takes the writes',
    { timeout: 120_000 },
    async () => {
      await pair.waitForReplay();
      await pair.primary.kill();
      await waitFor('the primary seen down', () => router.stats().servers[0]?.up === false);
      const started = Date.now();
      await expect(router.query('INSERT INTO items (n) VALUES (1)')).rejects.toBeInstanceOf(
        DbRouterError,
      );
      await expect(router.query('INSERT INTO items (n) VALUES (1)')).rejects.toMatchObject({
        code: 'PRIMARY_UNAVAILABLE',
      });
      expect(Date.now() - started).toBeLessThan(1_000);
      const { rows } = await router.query<{ n: number }>('SELECT count(*)::int AS n FROM items');
      expect(rows[0]!.n).toBeGreaterThan(0);
      await pair.replica!.promote();
      await waitFor(
        'a writable primary again',
        async () => {
          try {
            await router.query('INSERT INTO items (n) VALUES (99)');
            return true;
          } catch {
            return false;
          }
        },
        { timeoutMs: 30_000 },
      );
      expect(router.stats().servers[0]?.name).toBe(`127.0.0.1:${pair.replica!.port}`);
    },
  );
});
