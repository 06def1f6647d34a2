// The router on a primary and two streaming replicas of its own (scripts/services): where each
// statement class goes (volatility read from pg_proc), read-only clients on a replica (and on
// the primary, read-only there too), read-your-writes with an apply delay on the replicas (in
// one context, and across a hop that carries the token), both replicas sharing reads, one
// killed under read load, the primary killed (reads go on, writes fail fast), and a replica
// promoted.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPostgres, type PostgresPair } from '@meskit/services';
import { waitFor } from '@meskit/testkit';
import type pg from 'pg';
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
  pair = await startPostgres({ dir, replica: 2 });
  await pair.primary.query(`CREATE TABLE items (id bigserial PRIMARY KEY, n int NOT NULL);
    CREATE FUNCTION bump(x int) RETURNS int VOLATILE LANGUAGE sql AS 'SELECT x + 1';
    CREATE FUNCTION twice(x int) RETURNS int STABLE LANGUAGE sql AS 'SELECT x * 2'`);
  await pair.waitForReplay();
  router = createRouter({
    primary: pair.primary.url,
    replicas: pair.replicas.map((r) => r.url),
    pollIntervalMs: 20,
    registry: new Registry(),
    readYourWrites: { waitMs: 2_000 },
    onDecision: (d) => decisions.push(d),
  });
  await waitFor('both replicas in service', () =>
    router
      .stats()
      .servers.slice(1)
      .every((s) => s.inService),
  );
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

describe('createRouter on a real primary and two streaming replicas', () => {
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

  it('a read-only client reads on a replica, and PostgreSQL refuses its writes', async () => {
    const client = await router.connect({ readOnly: true });
    decisions.length = 0;
    try {
      await client.query('BEGIN READ ONLY');
      const { rows } = await client.query<{ recovery: boolean }>(
        'SELECT pg_is_in_recovery() AS recovery',
      );
      expect(rows[0]!.recovery).toBe(true);
      await client.query('COMMIT');
      await expect(client.query('INSERT INTO items (n) VALUES (1)')).rejects.toMatchObject({
        code: '25006', // read_only_sql_transaction
      });
    } finally {
      client.release();
    }
    expect(new Set(decisions.map((d) => `${d.target}:${d.reason}`))).toEqual(
      new Set(['replica:read-only']),
    );
  });

  it(
    'a read-only client on the primary (no replica may serve) refuses writes too, and its session is reset on release',
    { timeout: 30_000 },
    async () => {
      // One connection: the next checkout is the very client that was lent read-only.
      const solo = createRouter({
        primary: { connectionString: pair.primary.url, max: 1 },
        registry: new Registry(),
        onDecision: (d) => decisions.push(d),
      });
      try {
        decisions.length = 0;
        const client = await solo.connect({ readOnly: true });
        try {
          await expect(client.query('INSERT INTO items (n) VALUES (1)')).rejects.toMatchObject({
            code: '25006',
          });
          await expect(client.query("SELECT nextval('items_id_seq')")).rejects.toMatchObject({
            code: '25006',
          });
        } finally {
          client.release();
        }
        expect(decisions.map((d) => d.target)).toEqual(['primary', 'primary']);
        const again = await solo.connect();
        try {
          const { rows } = await again.query<{ ro: string }>(
            "SELECT current_setting('default_transaction_read_only') AS ro",
          );
          expect(rows[0]!.ro).toBe('off');
          await again.query('INSERT INTO items (n) VALUES (1)');
        } finally {
          again.release();
        }
      } finally {
        await solo.end();
      }
    },
  );

  it("keeps pg.Pool's callback forms and life-cycle events", { timeout: 30_000 }, async () => {
    const events = createRouter({
      primary: pair.primary.url,
      replicas: pair.replicas.map((r) => r.url),
      registry: new Registry(),
    });
    // A session set up on 'connect' holds on every server's clients, as on a pg.Pool.
    const sessions: string[] = [];
    events.on('connect', (client: pg.PoolClient) => {
      sessions.push('connect');
      void client.query("SET application_name = 'meskit-test'");
    });
    try {
      await waitFor('the replicas in service', () =>
        events
          .stats()
          .servers.slice(1)
          .every((s) => s.inService),
      );
      const name = await new Promise<unknown>((resolve, reject) =>
        events.query<{ name: string }>(
          "SELECT current_setting('application_name') AS name",
          [],
          (error, result) => (error ? reject(error) : resolve(result.rows[0]?.name)),
        ),
      );
      expect(name).toBe('meskit-test');
      const failed = await new Promise<unknown>((resolve) =>
        events.query('SELECT * FROM no_such_table', (error) => resolve(error)),
      );
      expect(failed).toMatchObject({ code: '42P01' });
      const inserted = await new Promise<unknown>((resolve, reject) =>
        events.connect((error, client, done) => {
          if (error || !client) return reject(error);
          client.query('INSERT INTO items (n) VALUES (5) RETURNING n').then(
            (r) => (done(), resolve(r.rows[0]?.n)),
            (e: unknown) => (done(e as Error), reject(e)),
          );
        }),
      );
      expect(inserted).toBe(5);
      expect(sessions.length).toBeGreaterThanOrEqual(3); // the primary and both replicas
    } finally {
      await events.end();
    }
  });

  it('both replicas share the reads', async () => {
    decisions.length = 0;
    for (let i = 0; i < 20; i++) await router.query('SELECT count(*) FROM items');
    const byServer = new Map<string, number>();
    for (const d of decisions) byServer.set(d.server, (byServer.get(d.server) ?? 0) + 1);
    expect(decisions.every((d) => d.target === 'replica')).toBe(true);
    expect([...byServer.keys()].sort()).toEqual(
      pair.replicas.map((r) => `127.0.0.1:${r.port}`).sort(),
    );
    expect(Math.min(...byServer.values())).toBeGreaterThanOrEqual(5);
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

  /** Readers in a loop until stopped: how many reads succeeded and failed, and where they went. */
  function readLoad(readers = 4) {
    const load = { done: 0, failed: 0, errors: [] as unknown[], stop: async () => {} };
    let stop = false;
    const loops = Array.from({ length: readers }, async () => {
      while (!stop) {
        try {
          await router.query('SELECT count(*) FROM items');
          load.done += 1;
        } catch (error) {
          load.failed += 1;
          if (load.errors.length < 5) load.errors.push(error);
        }
      }
    });
    load.stop = async () => {
      stop = true;
      await Promise.all(loops);
    };
    return load;
  }

  it(
    'one of two replicas killed under read load: 0 failed reads, the other serves them; back in service once restarted',
    { timeout: 120_000 },
    async () => {
      await pair.waitForReplay();
      const [first, second] = pair.replicas;
      const load = readLoad();
      await waitFor('reads flowing', () => load.done > 50);
      await second!.kill();
      await waitFor(
        'the killed replica out of service',
        () => router.stats().servers[2]?.inService === false,
      );
      decisions.length = 0;
      const during = load.done;
      await waitFor('reads going on without it', () => load.done > during + 50);
      await load.stop();
      expect(load.errors).toEqual([]);
      expect(load.failed).toBe(0);
      expect(new Set(decisions.map((d) => d.server))).toEqual(
        new Set([`127.0.0.1:${first!.port}`]),
      );
      await second!.start();
      await waitFor(
        'the replica back in service',
        () => router.stats().servers[2]?.inService === true,
        { timeoutMs: 60_000 },
      );
    },
  );

  it(
    'the primary killed: reads go on, every write fails within a second with the typed error; a replica promoted takes the writes',
    { timeout: 120_000 },
    async () => {
      await pair.waitForReplay();
      const load = readLoad(2);
      await waitFor('reads flowing', () => load.done > 50);
      await pair.primary.kill();
      // At once, before any poll has seen it down, and then while it stays down.
      const writes: { ms: number; code: unknown }[] = [];
      for (let i = 0; i < 20; i++) {
        const started = performance.now();
        const error = await router.query('INSERT INTO items (n) VALUES (1)').then(
          () => undefined,
          (e: unknown) => e,
        );
        writes.push({
          ms: performance.now() - started,
          code: error instanceof DbRouterError ? error.code : String(error),
        });
        if (i === 0)
          await waitFor('the primary seen down', () => router.stats().servers[0]?.up === false);
      }
      expect(writes.map((w) => w.code)).toEqual(Array(20).fill('PRIMARY_UNAVAILABLE'));
      expect(Math.max(...writes.map((w) => w.ms))).toBeLessThan(1_000);
      const readsWhileDown = load.done;
      await waitFor(
        'reads going on while the primary is down',
        () => load.done > readsWhileDown + 50,
      );
      const promoted = pair.replicas[0]!;
      await promoted.promote();
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
      await load.stop();
      expect(load.errors).toEqual([]);
      expect(load.failed).toBe(0);
      expect(router.stats().servers[0]?.name).toBe(`127.0.0.1:${promoted.port}`);
      // The promoted server left the read rotation; the other replica is still in it.
      expect(
        router
          .stats()
          .servers.slice(1)
          .map((s) => s.name),
      ).toEqual([`127.0.0.1:${pair.replicas[1]!.port}`]);
    },
  );
});
