// Every dashboard and rule query, evaluated by the real Prometheus of the test run, and by its
// real VictoriaMetrics, which scrapes the same targets (every data check runs on both).
//
// Always on: each query is valid for that Prometheus (the version the services library
// installs), with dashboard variables substituted as Grafana would.
//
// And the data checks, each for the dashboards and rules of one component, which runs as
// deployed while Prometheus scrapes it: every query of that component must return data for its
// job. Here, the reference MES runs under @meskit/otel-bootstrap, Prometheus scrapes it, and
// every MES query (those the other components' checks do not read) must return data for that
// job. The other components each have a file of their own:
// - queries-pricing.integration.test.ts: two pricing sidecars (`meskit pricing serve`);
// - queries-cache-proxy.integration.test.ts: three cache sidecars (`meskit cache-proxy`) in
//   front of a reference MES;
// - queries-mq.integration.test.ts: a reference MES on @meskit/mq-reliable;
// - queries-db.integration.test.ts: a reference MES on @meskit/db-router with a replica.
// What they share (the backends, which files each check reads, the processes they start, the
// polling until series appear) is in scraped.ts.
// The MES check needs otel-bootstrap and the reference MES built (`npm test` builds first).
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { attachServices } from '@meskit/services';
import { afterAll, describe, expect, it } from 'vitest';
import { collectQueries, evaluateAll, type ShippedQuery } from './queries.js';
import {
  evaluateUntilData,
  freePort,
  isCacheProxyQuery,
  isDbQuery,
  isMqQuery,
  isPricingQuery,
  prometheusUrl,
  queryUntil,
  services,
  spawnInstrumentedMes,
  undocumentedFamilies,
  victoriaMetricsUrl,
} from './scraped.js';

describe('dashboard and rule queries on the real Prometheus', () => {
  it('are all valid', async () => {
    expect(prometheusUrl, 'the test run has no Prometheus').not.toBe('');
    const report = await evaluateAll(prometheusUrl, { requireData: false });
    expect(report.outcomes.length).toBe(collectQueries().length);
    expect(report.outcomes.length).toBeGreaterThan(20);
    expect(report.problems).toEqual([]);
  });

  it('are all valid MetricsQL for the real VictoriaMetrics too', async () => {
    expect(victoriaMetricsUrl, 'the test run has no VictoriaMetrics').not.toBe('');
    const report = await evaluateAll(victoriaMetricsUrl, { requireData: false });
    expect(report.outcomes.length).toBe(collectQueries().length);
    expect(report.problems).toEqual([]);
  });

  it('are reported when Prometheus rejects them or, when data is required, return nothing', async () => {
    const queries: ShippedQuery[] = [
      { kind: 'panel', source: 'unbalanced', expr: 'sum(rate(up[5m])' },
      // Valid syntax, but a range vector where a graph needs an instant vector.
      { kind: 'panel', source: 'range vector', expr: 'up[$__rate_interval]' },
      { kind: 'panel', source: 'typo in variable', expr: 'up{job=~"$jb"}' },
      { kind: 'panel', source: 'absent metric', expr: 'meskit_no_such_metric_total{job=~"$job"}' },
    ];
    const valid = await evaluateAll(prometheusUrl, { requireData: false, queries });
    expect(valid.problems).toEqual([
      expect.stringMatching(/^unbalanced: Prometheus rejected it: bad_data/),
      expect.stringMatching(/^range vector: Prometheus rejected it: bad_data/),
      'typo in variable: unknown dashboard variable $jb',
    ]);
    const withData = await evaluateAll(prometheusUrl, { requireData: true, queries });
    expect(withData.problems).toContain('absent metric: no data');
  });
});

describe('dashboard and rule queries on a scraped, instrumented MES', () => {
  const job = `dashboards-mes-${process.pid}`;
  const prometheus = attachServices(services.MESKIT_SERVICES_DIR).prometheus;
  const modelDir = mkdtempSync(join(tmpdir(), 'meskit-dashboards-models-'));
  let mes: ChildProcess | undefined;

  afterAll(async () => {
    // An empty target list retires the job; Prometheus keeps re-reading the file.
    prometheus?.setScrapeJob({ job, targets: [] });
    if (mes && mes.exitCode === null && mes.signalCode === null) {
      const exited = new Promise((resolve) => mes?.once('exit', resolve));
      mes.kill('SIGTERM');
      await exited;
    }
    rmSync(modelDir, { recursive: true, force: true });
  });

  it('return data for every query', { timeout: 120_000 }, async () => {
    expect(prometheus, 'the test run has no Prometheus').toBeDefined();
    const metricsPort = await freePort();
    const started = spawnInstrumentedMes({
      DATABASE_URL: services.DATABASE_URL ?? '',
      MES_MODEL_DIR: modelDir,
      MESKIT_METRICS_PORT: String(metricsPort),
      // No collector here: record metrics, sample no traces.
      OTEL_TRACES_SAMPLER: 'always_off',
    });
    mes = started.child;
    const mesUrl = await started.listening;
    prometheus?.setScrapeJob({ job, targets: [`127.0.0.1:${metricsPort}`] });

    // Traffic on the routes the dashboard and the SLOs look at.
    for (let i = 0; i < 20; i++) {
      const page = await fetch(
        `${mesUrl}/api/orders?status=MANUFACTURING_APPROVED&page=1&pageSize=20`,
      );
      expect(page.status).toBe(200);
      await page.arrayBuffer();
      await (await fetch(`${mesUrl}/health`)).arrayBuffer();
    }
    // rate() needs two samples of the request histogram: wait for Prometheus to have them.
    await queryUntil(
      `count_over_time(meskit_http_server_request_duration_seconds_count{job="${job}", route="/api/orders"}[1m]) >= 2`,
    );

    // Series appear as Prometheus scrapes them (every second); on a loaded machine some need
    // a few more scrapes. Re-evaluate until every query has data, or report what is missing.
    const queries = collectQueries().filter(
      (query) =>
        !isPricingQuery(query) &&
        !isCacheProxyQuery(query) &&
        !isMqQuery(query) &&
        !isDbQuery(query),
    );
    expect(queries.length).toBeGreaterThan(20);
    const pageAndHealth = async () => {
      await (
        await fetch(`${mesUrl}/api/orders?status=MANUFACTURING_APPROVED&page=1&pageSize=20`)
      ).arrayBuffer();
      await (await fetch(`${mesUrl}/health`)).arrayBuffer();
    };
    expect(await evaluateUntilData(queries, job, pageAndHealth)).toEqual([]);

    // And the other way round: every metric family the instrumented MES exposes is listed in
    // docs/metrics.md with its type, so the page cannot fall behind the code.
    expect(
      undocumentedFamilies(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()),
      'exposed but not in docs/metrics.md with that type',
    ).toEqual([]);
  });
});
