// The database routing dashboard and rules, checked for data (see queries.integration.test.ts):
// a reference MES on @meskit/db-router (DATABASE_REPLICA_URL set, under @meskit/otel-bootstrap)
// on a database of its own and that database on the test run's streaming replica: list reads
// (served by the replica), a take (the primary) and a read with the take's x-meskit-lsn token
// (read-your-writes); Prometheus scrapes it, and every database routing query must return data
// for it, on Prometheus and on VictoriaMetrics.
// It needs otel-bootstrap, the reference MES and db-router built (`npm test` builds first).
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { attachServices } from '@meskit/services';
import { waitFor, withClient } from '@meskit/testkit';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { collectQueries } from './queries.js';
import {
  evaluateUntilData,
  FIRST_PAGE,
  freePort,
  isDbQuery,
  POLL,
  queryUntil,
  sampleSum,
  services,
  spawnInstrumentedMes,
  stop,
  undocumentedFamilies,
} from './scraped.js';

describe('database routing dashboard and rule queries on a scraped MES with a replica', () => {
  const job = `dashboards-db-${process.pid}`;
  const prometheus = attachServices(services.MESKIT_SERVICES_DIR).prometheus;
  // A database of our own (test files run in parallel against the same servers); created on the
  // primary, it appears on the streaming replica under the same name once replayed.
  const run = `${process.pid}_${randomBytes(4).toString('hex')}`;
  const database = `dashboards_db_${run}`;
  const modelDir = mkdtempSync(join(tmpdir(), 'meskit-dashboards-db-'));
  let mes: ChildProcess | undefined;
  let pool: pg.Pool | undefined;

  afterAll(async () => {
    prometheus?.setScrapeJob({ job, targets: [] });
    if (mes) await stop(mes);
    await pool?.end();
    if (services.DATABASE_URL) {
      await withClient(services.DATABASE_URL, (c) =>
        c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`),
      );
    }
    rmSync(modelDir, { recursive: true, force: true });
  });

  it('return data for every query', { timeout: 120_000 }, async () => {
    expect(prometheus, 'the test run has no Prometheus').toBeDefined();
    const { DATABASE_URL: adminUrl, DATABASE_REPLICA_URL: replicaAdminUrl } = services;
    expect(adminUrl && replicaAdminUrl, 'the test run has no PostgreSQL replica').toBeTruthy();
    await withClient(adminUrl ?? '', (c) => c.query(`CREATE DATABASE ${database}`));
    const databaseUrl = new URL(adminUrl ?? '');
    databaseUrl.pathname = `/${database}`;
    const replicaUrl = new URL(replicaAdminUrl ?? '');
    replicaUrl.pathname = `/${database}`;
    await waitFor(
      'the replica replays the new database',
      () => withClient(replicaUrl.toString(), async () => true).catch(() => false),
      POLL,
    );

    // The MES as deployed with a replica: reads routed to it, writes to the primary, each
    // request a read-your-writes context.
    const metricsPort = await freePort();
    const started = spawnInstrumentedMes({
      DATABASE_URL: databaseUrl.toString(),
      DATABASE_REPLICA_URL: replicaUrl.toString(),
      MES_MODEL_DIR: modelDir,
      MES_LOG_LEVEL: 'silent',
      MESKIT_METRICS_PORT: String(metricsPort),
      OTEL_TRACES_SAMPLER: 'always_off',
    });
    mes = started.child;
    const mesUrl = await started.listening;
    prometheus?.setScrapeJob({ job, targets: [`127.0.0.1:${metricsPort}`] });
    const exposition = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();

    // Two approved orders, written on the primary: the list reads them from the replica once
    // it has replayed them.
    pool = new pg.Pool({ connectionString: databaseUrl.toString(), max: 2 });
    const inserted = await pool.query<{ id: string }>(
      `INSERT INTO orders (external_id, source, status, model_ref)
       SELECT 'dash-db-' || i, 'b2c', s, 'test/model.stl'
       FROM unnest($1::text[]) WITH ORDINALITY AS t(s, i)
       RETURNING id`,
      [['MANUFACTURING_APPROVED', 'MANUFACTURING_APPROVED']],
    );
    const [taken] = inserted.rows.map((row) => Number(row.id)) as [number];
    const list = async (headers: Record<string, string> = {}) => {
      const page = await fetch(`${mesUrl}${FIRST_PAGE}`, { headers });
      expect(page.status).toBe(200);
      return (await page.json()) as unknown;
    };
    await waitFor(
      'the list is read from the replica',
      async () => {
        // The replica may not have replayed the MES's schema yet: then the read fails; retry.
        const page = await fetch(`${mesUrl}${FIRST_PAGE}`);
        await page.arrayBuffer();
        return (
          page.status === 200 &&
          sampleSum(await exposition(), 'meskit_db_queries_total', { target: 'replica' }) >= 3
        );
      },
      POLL,
    );

    // A take (a write on the primary), then a read with the position it handed back.
    const response = await fetch(`${mesUrl}/api/orders/${taken}/take`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ operatorId: 1 }),
    });
    expect(response.status).toBe(200);
    await response.arrayBuffer();
    const token = response.headers.get('x-meskit-lsn');
    expect(token, 'the take hands back its position').toBeTruthy();
    await list({ 'x-meskit-lsn': token ?? '' });
    await waitFor(
      'a read-your-writes read and a write are counted',
      async () => {
        const text = await exposition();
        return (
          sampleSum(text, 'meskit_db_read_your_writes_total', {}) >= 1 &&
          sampleSum(text, 'meskit_db_queries_total', { target: 'primary' }) >= 1
        );
      },
      POLL,
    );

    await queryUntil(`count_over_time(meskit_db_read_your_writes_total{job="${job}"}[1m]) >= 2`);
    const queries = collectQueries().filter(isDbQuery);
    // The dashboard's variables and panels, and the three alerts.
    expect(queries.length).toBeGreaterThan(12);
    expect(queries.filter((query) => query.kind === 'alert')).toHaveLength(3);
    expect(await evaluateUntilData(queries, job, () => list())).toEqual([]);

    expect(
      undocumentedFamilies(await exposition()),
      'the MES on db-router exposes families not in docs/metrics.md with that type',
    ).toEqual([]);
  });
});
