// Every dashboard in dashboards/grafana imports into any Grafana with any Prometheus
// datasource, and each panel says what it shows and in which unit.
import { describe, expect, it } from 'vitest';
import { allPanels, loadDashboards, repoPath, type DashboardFile } from './artifacts.js';
import { DATASOURCE_REF, dashboardProblems } from './dashboard-lint.js';

const files = loadDashboards();

describe('Grafana dashboards', () => {
  it('exist', () => {
    expect(files.map((f) => repoPath(f.path))).toContain('dashboards/grafana/mes-overview.json');
  });

  it.each(files.map((f) => [repoPath(f.path), f] as const))('%s is valid for import', (_, file) => {
    expect(dashboardProblems(file)).toEqual([]);
  });

  it('have unique uids', () => {
    const uids = files.map((f) => f.dashboard.uid);
    expect(new Set(uids).size).toBe(uids.length);
  });
});

describe('the MES overview', () => {
  const overview = files.find((f) => f.dashboard.uid === 'meskit-mes-overview') as DashboardFile;
  const exprs = allPanels(overview.dashboard).flatMap((p) =>
    (p.targets ?? []).map((t) => t.expr ?? ''),
  );

  // What the issue asks the overview to show; a refactoring that drops one fails here.
  it.each([
    [
      'request rate per route',
      /sum by \(method, route\) \(rate\(meskit_http_server_request_duration_seconds_count/,
    ],
    ['5xx share per route', /status_code=~"5\.\."/],
    ['p50/p95/p99 per route', /histogram_quantile\(0\.95, sum by \(le, method, route\)/],
    [
      'new-orders page latency',
      /histogram_quantile\(0\.99, sum by \(le\) \(rate\(\w+_bucket\{[^}]*method="GET", route="\/api\/orders"/,
    ],
    ['new-orders page SLO burn', /route="\/api\/orders", le="0\.25"\}\[1h\][\s\S]*\/ 0\.01$/],
    ['errors by status', /sum by \(status_code\)/],
    ['CPU', /process_cpu_user_seconds_total/],
    ['RSS', /process_resident_memory_bytes/],
    ['heap', /nodejs_heap_size_used_bytes/],
    ['event-loop lag p99', /nodejs_eventloop_lag_p99_seconds/],
    ['GC time', /nodejs_gc_duration_seconds_sum/],
    ['active handles', /nodejs_active_handles_total/],
  ])('shows %s', (_, pattern) => {
    expect(exprs.some((expr) => pattern.test(expr))).toBe(true);
  });
});

describe('the pricing runner dashboard', () => {
  const pricing = files.find((f) => f.dashboard.uid === 'meskit-pricing-runner') as DashboardFile;
  const exprs = allPanels(pricing?.dashboard ?? {}).flatMap((p) =>
    (p.targets ?? []).map((t) => t.expr ?? ''),
  );

  it('exists', () => {
    expect(pricing, 'dashboards/grafana/pricing-runner.json').toBeDefined();
  });

  // What the pricing-runner issue asks the dashboard to show.
  it.each([
    ['quotes by outcome', /sum by \(result\) \(rate\(meskit_pricing_cache_requests_total/],
    ['computations by outcome', /sum by \(outcome\) \(rate\(meskit_pricing_jobs_total/],
    [
      'p95 computation time by format',
      /histogram_quantile\(0\.95, sum by \(le, format\) \(rate\(meskit_pricing_job_duration_seconds_bucket/,
    ],
    ['queue depth', /meskit_pricing_queue_depth/],
    [
      'cache hit ratio',
      /result="hit"[\s\S]*\/\nsum\(rate\(meskit_pricing_cache_requests_total\{[^}]*result=~"hit\|miss"/,
    ],
    ['errors by code', /sum by \(code\) \(rate\(meskit_pricing_errors_total/],
    ['Redis errors', /sum by \(instance, operation\) \(rate\(meskit_pricing_cache_errors_total/],
    ['CPU', /process_cpu_user_seconds_total/],
    ['RSS', /process_resident_memory_bytes/],
  ])('shows %s', (_, pattern) => {
    expect(exprs.some((expr) => pattern.test(expr))).toBe(true);
  });
});

describe('the cache proxy dashboard', () => {
  const cache = files.find((f) => f.dashboard.uid === 'meskit-cache-proxy') as DashboardFile;
  const exprs = allPanels(cache?.dashboard ?? {}).flatMap((p) =>
    (p.targets ?? []).map((t) => t.expr ?? ''),
  );

  it('exists', () => {
    expect(cache, 'dashboards/grafana/cache-proxy.json').toBeDefined();
  });

  // What the cache-proxy issue asks the dashboard to show.
  it.each([
    ['requests by result', /sum by \(result\) \(rate\(meskit_cache_requests_total/],
    [
      'hit ratio',
      /result="hit"[\s\S]*or\n\s*0 \* sum\(rate\(meskit_cache_requests_total[\s\S]*\/\nsum\(rate\(meskit_cache_requests_total/,
    ],
    ['fills by outcome', /sum by \(outcome\) \(rate\(meskit_cache_fills_total/],
    [
      'p95 fill duration',
      /histogram_quantile\(0\.95, sum by \(le\) \(rate\(meskit_cache_fill_duration_seconds_bucket/,
    ],
    ['invalidations by source', /sum by \(source\) \(rate\(meskit_cache_invalidations_total/],
    ['write-through writes', /rate\(meskit_cache_writes_total/],
    ['events by outcome', /sum by \(outcome\) \(rate\(meskit_cache_events_total/],
    ['Redis errors', /rate\(meskit_cache_redis_errors_total/],
    ['index size per status', /sum by \(instance, status\) \(meskit_cache_index_orders/],
    [
      "the proxy's page latency",
      /histogram_quantile\(0\.99, sum by \(le\) \(rate\(meskit_http_server_request_duration_seconds_bucket\{[^}]*route="\/api\/orders"/,
    ],
  ])('shows %s', (_, pattern) => {
    expect(exprs.some((expr) => pattern.test(expr))).toBe(true);
  });
});

describe('the RabbitMQ messaging dashboard', () => {
  const mq = files.find((f) => f.dashboard.uid === 'meskit-mq-reliable') as DashboardFile;
  const exprs = allPanels(mq?.dashboard ?? {}).flatMap((p) =>
    (p.targets ?? []).map((t) => t.expr ?? ''),
  );

  it('exists', () => {
    expect(mq, 'dashboards/grafana/mq-reliable.json').toBeDefined();
  });

  it('picks its jobs by a series every publisher and consumer serves from its start', () => {
    const job = mq?.dashboard.templating?.list?.find((v) => v.name === 'job');
    expect(job?.query).toBe('label_values(meskit_mq_reconnects_total, job)');
  });

  // What the mq-reliable issue asks the dashboard to show.
  it.each([
    ['publishes by outcome', /sum by \(outcome\) \(rate\(meskit_mq_published_total/],
    [
      'confirm latency p50',
      /histogram_quantile\(0\.5, sum by \(le\) \(rate\(meskit_mq_confirm_duration_seconds_bucket/,
    ],
    [
      'confirm latency p99',
      /histogram_quantile\(0\.99, sum by \(le\) \(rate\(meskit_mq_confirm_duration_seconds_bucket/,
    ],
    ['unconfirmed messages', /sum by \(instance\) \(meskit_mq_unconfirmed_messages/],
    ['re-sent messages', /rate\(meskit_mq_resent_total/],
    ['reconnects', /increase\(meskit_mq_reconnects_total/],
    ['outbox pending', /max by \(table\) \(meskit_mq_outbox_pending_messages/],
    ['outbox oldest age', /max by \(table\) \(meskit_mq_outbox_oldest_age_seconds/],
    ['relayed by outcome', /sum by \(table, outcome\) \(rate\(meskit_mq_outbox_relayed_total/],
    ['consumed by outcome per queue', /sum by \(queue, outcome\) \(rate\(meskit_mq_consumed_total/],
    [
      'retries, dead letters and duplicates',
      /outcome=~"retried\|dead_lettered\|unparseable\|duplicate\|requeued"/,
    ],
    [
      'handler duration per queue',
      /histogram_quantile\(0\.99, sum by \(le, queue\) \(rate\(meskit_mq_handler_duration_seconds_bucket/,
    ],
    ['consumers up', /sum by \(queue\) \(meskit_mq_consumer_up/],
    ['messages in flight', /sum by \(queue\) \(meskit_mq_consumer_in_flight_messages/],
  ])('shows %s', (_, pattern) => {
    expect(exprs.some((expr) => pattern.test(expr))).toBe(true);
  });
});

describe('the database routing dashboard', () => {
  const db = files.find((f) => f.dashboard.uid === 'meskit-db-router') as DashboardFile;
  const exprs = allPanels(db?.dashboard ?? {}).flatMap((p) =>
    (p.targets ?? []).map((t) => t.expr ?? ''),
  );

  it('exists', () => {
    expect(db, 'dashboards/grafana/db-router.json').toBeDefined();
  });

  it('picks its jobs by a series every router serves from its start', () => {
    const job = db?.dashboard.templating?.list?.find((v) => v.name === 'job');
    expect(job?.query).toBe('label_values(meskit_db_primary_up, job)');
  });

  // What the db-router issue asks the dashboard to show.
  it.each([
    ['queries by target and reason', /sum by \(target, reason\) \(rate\(meskit_db_queries_total/],
    ['the share of reads on replicas', /meskit_db_queries_total\{[^}]*target="replica"/],
    ['replica lag in seconds', /max by \(replica, instance\) \(meskit_db_replica_lag_seconds/],
    ['replica lag in bytes', /max by \(replica, instance\) \(meskit_db_replica_lag_bytes/],
    ['replicas in service', /max by \(replica, instance\) \(meskit_db_replica_in_service/],
    ['primary up', /min by \(instance\) \(meskit_db_primary_up/],
    ['read-your-writes outcomes', /sum by \(outcome\) \(rate\(meskit_db_read_your_writes_total/],
  ])('shows %s', (_, pattern) => {
    expect(exprs.some((expr) => pattern.test(expr))).toBe(true);
  });
});

describe('the dashboard checks', () => {
  // A minimal valid dashboard, then one breakage at a time: each must be reported.
  const valid = (): DashboardFile => ({
    path: 'test.json',
    dashboard: {
      uid: 'meskit-test',
      title: 'Test',
      id: null,
      schemaVersion: 39,
      tags: ['meskit'],
      __inputs: [{ name: 'DS_PROMETHEUS', type: 'datasource', pluginId: 'prometheus' }],
      templating: {
        list: [
          {
            name: 'datasource',
            type: 'datasource',
            query: 'prometheus',
            current: { value: '${DS_PROMETHEUS}' },
          },
          {
            name: 'job',
            type: 'query',
            query: 'label_values(up, job)',
            datasource: { uid: DATASOURCE_REF },
          },
        ],
      },
      panels: [
        {
          id: 1,
          type: 'timeseries',
          title: 'Up',
          description: 'Scrape health.',
          datasource: { type: 'prometheus', uid: DATASOURCE_REF },
          gridPos: { h: 8, w: 12, x: 0, y: 0 },
          fieldConfig: { defaults: { unit: 'none' } },
          targets: [{ refId: 'A', expr: 'up{job=~"$job"}[$__rate_interval]' }],
        },
      ],
    },
  });

  it('accept the minimal valid dashboard', () => {
    expect(dashboardProblems(valid())).toEqual([]);
  });

  it.each<[string, (file: DashboardFile) => void, RegExp]>([
    [
      'a fixed datasource',
      (f) => void (f.dashboard.panels![0]!.datasource = { uid: 'P1809F7CD0C75ACF3' }),
      /datasource is not the variable/,
    ],
    [
      'a missing unit',
      (f) => void delete f.dashboard.panels![0]!.fieldConfig!.defaults!.unit,
      /no unit/,
    ],
    [
      'a missing description',
      (f) => void (f.dashboard.panels![0]!.description = ' '),
      /no description/,
    ],
    [
      'a target without expr',
      (f) => void (f.dashboard.panels![0]!.targets = [{ refId: 'A' }]),
      /no expr/,
    ],
    ['no targets', (f) => void (f.dashboard.panels![0]!.targets = []), /no targets/],
    [
      'an undefined variable',
      (f) => void (f.dashboard.panels![0]!.targets![0]!.expr = 'up{job=~"$service"}'),
      /undefined variable \$service/,
    ],
    [
      'no datasource variable',
      (f) => void f.dashboard.templating!.list!.shift(),
      /no template variable "datasource"/,
    ],
    [
      'no job variable',
      (f) => void f.dashboard.templating!.list!.pop(),
      /no template variable "job"/,
    ],
    ['no import input', (f) => void delete f.dashboard.__inputs, /no __inputs/],
    ['a fixed id', (f) => void (f.dashboard.id = 7), /id is set/],
    [
      'a panel off the grid',
      (f) => void (f.dashboard.panels![0]!.gridPos = { h: 8, w: 12, x: 18, y: 0 }),
      /outside the 24-column grid/,
    ],
  ])('report %s', (_, breakIt, message) => {
    const file = valid();
    breakIt(file);
    expect(dashboardProblems(file).join('\n')).toMatch(message);
  });

  it('report overlapping panels', () => {
    const file = valid();
    const panel = file.dashboard.panels![0]!;
    file.dashboard.panels!.push({
      ...panel,
      id: 2,
      title: 'Twin',
      gridPos: { h: 8, w: 12, x: 6, y: 4 },
    });
    expect(dashboardProblems(file)).toEqual(['panel "Twin": overlaps panel "Up"']);
  });
});
