// What the data checks of the dashboard and rule queries (queries*.integration.test.ts) share:
// the test run's Prometheus and VictoriaMetrics, which files each component's check reads, the
// processes they start as deployed (under @meskit/otel-bootstrap), and the polling for series
// to appear once scraped. Imported by those test files and run in their workers (where
// vitest's inject() reads what the global setup provided).
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { expect, inject } from 'vitest';
import { loadMetricsDoc, REPO_ROOT } from './artifacts.js';
import { evaluateAll, type ShippedQuery } from './queries.js';

/** Asynchronous effects with nothing to wait on (a consumer connecting, events applied). */
export const POLL = { timeoutMs: 30_000, intervalMs: 100 };

// The pricing sidecar's, the cache sidecar's, the messaging and the database routing dashboards
// and rules: each checked against its own scraped processes, the rest against the scraped MES
// (each reads metrics the others do not serve).
const PRICING_FILES = [
  'dashboards/grafana/pricing-runner.json',
  'dashboards/prometheus/rules/pricing-runner.rules.yml',
];
const CACHE_PROXY_FILES = [
  'dashboards/grafana/cache-proxy.json',
  'dashboards/prometheus/rules/cache-proxy.rules.yml',
];
const MQ_FILES = [
  'dashboards/grafana/mq-reliable.json',
  'dashboards/prometheus/rules/mq-reliable.rules.yml',
];
const DB_FILES = [
  'dashboards/grafana/db-router.json',
  'dashboards/prometheus/rules/db-router.rules.yml',
];
export const readsFrom =
  (files: readonly string[]) =>
  (query: ShippedQuery): boolean =>
    files.some((file) => query.source.startsWith(`${file}:`));
export const isPricingQuery = readsFrom(PRICING_FILES);
export const isCacheProxyQuery = readsFrom(CACHE_PROXY_FILES);
export const isMqQuery = readsFrom(MQ_FILES);
export const isDbQuery = readsFrom(DB_FILES);

export const services = inject('services');
export const prometheusUrl = services.PROMETHEUS_URL ?? '';
// Scrapes the same targets as Prometheus: every data check runs on both.
export const victoriaMetricsUrl = services.VICTORIA_METRICS_URL ?? '';

/** The first page of the approved orders, as the operator's list reads it. */
export const FIRST_PAGE = '/api/orders?status=MANUFACTURING_APPROVED&page=1&pageSize=20';

/** The sum of the samples of `name` whose labels include `labels`, in a Prometheus exposition. */
export function sampleSum(
  exposition: string,
  name: string,
  labels: Record<string, string>,
): number {
  let sum = 0;
  for (const line of exposition.split('\n')) {
    const sample = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (sample?.[1] !== name) continue;
    const has = new Map(
      [...(sample[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]),
    );
    if (Object.entries(labels).every(([label, value]) => has.get(label) === value)) {
      sum += Number(sample[3]);
    }
  }
  return sum;
}

/**
 * Series appear as Prometheus and VictoriaMetrics scrape them (every second, from the same
 * target files); on a loaded machine some need a few more scrapes. Re-evaluates on each until
 * every query has data for the job, and returns what is still missing after 30 s, prefixed with
 * the backend's name.
 *
 * `traffic`, when given, runs every 250 ms meanwhile: counters that keep moving across scrapes.
 * VictoriaMetrics drops the NaN a histogram_quantile() or a ratio of zero rates gives (where
 * Prometheus keeps it as a value), so a panel over a burst that ended before the first scrape
 * shows no data there.
 */
export async function evaluateUntilData(
  queries: readonly ShippedQuery[],
  job: string,
  traffic?: () => Promise<unknown>,
): Promise<string[]> {
  expect(victoriaMetricsUrl, 'the test run has no VictoriaMetrics').not.toBe('');
  const backends = { Prometheus: prometheusUrl, VictoriaMetrics: victoriaMetricsUrl };
  let done = false;
  const flowing = (async () => {
    while (traffic && !done) {
      await traffic();
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  })();
  try {
    const missing = await Promise.all(
      Object.entries(backends).map(async ([backend, url]) => {
        let report = await evaluateAll(url, { requireData: true, job, queries });
        for (let attempt = 0; report.problems.length > 0 && attempt < 30; attempt++) {
          await new Promise((resolve) => setTimeout(resolve, 1_000));
          report = await evaluateAll(url, { requireData: true, job, queries });
        }
        return report.problems.map((problem) => `${backend}: ${problem}`);
      }),
    );
    return missing.flat();
  } finally {
    done = true;
    await flowing;
  }
}

/** Metric families in a Prometheus exposition that docs/metrics.md lacks (or types otherwise). */
export function undocumentedFamilies(exposition: string): string[] {
  const exposed = [...exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => ({
    name: m[1] as string,
    type: m[2] as string,
  }));
  expect(exposed.length).toBeGreaterThan(10);
  const documented = new Map(loadMetricsDoc().map((metric) => [metric.name, metric.type]));
  return exposed
    .filter(({ name, type }) => documented.get(name) !== type)
    .map(({ name, type }) => `${name} (${type})`);
}

/**
 * `meskit pricing serve` as deployed beside an MES: under @meskit/otel-bootstrap (Node.js
 * runtime metrics in the registry its /metrics serves), on a free port, one worker thread.
 */
export function spawnPricingSidecar(redisUrl: string): {
  child: ChildProcess;
  listening: Promise<string>;
} {
  return spawnListening(
    'the pricing sidecar',
    [
      '--import',
      '@meskit/otel-bootstrap/register',
      join(REPO_ROOT, 'packages', 'cli', 'bin', 'meskit.js'),
      'pricing',
      'serve',
      '--port',
      '0',
      '--threads',
      '1',
      '--redis-url',
      redisUrl,
    ],
    // The sidecar serves /metrics itself; otel-bootstrap's own metrics port is not needed. No
    // collector here: record metrics, sample no traces.
    { MESKIT_METRICS_PORT: 'off', OTEL_TRACES_SAMPLER: 'always_off' },
  );
}

export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

export function spawnInstrumentedMes(env: Record<string, string | undefined>): {
  child: ChildProcess;
  listening: Promise<string>;
} {
  return spawnListening(
    'the reference MES',
    [
      '--import',
      '@meskit/otel-bootstrap/register',
      join(REPO_ROOT, 'examples', 'reference-mes', 'dist', 'main.js'),
    ],
    // Not the run's DATABASE_REPLICA_URL, which this process inherits from the global setup:
    // it names the run's own database on the replica, not the test's, and would route the
    // MES's reads there. A test that wants a replica passes its own.
    { MES_PORT: '0', DATABASE_REPLICA_URL: undefined, ...env },
  );
}

/** Spawns a Node process that prints `{"event":"listening","url":...}` on stdout once ready. */
export function spawnListening(
  what: string,
  args: string[],
  // undefined removes a variable of this process from the child's environment.
  env: Record<string, string | undefined>,
): { child: ChildProcess; listening: Promise<string> } {
  const childEnv = { ...process.env, ...env };
  for (const [name, value] of Object.entries(childEnv)) {
    if (value === undefined) delete childEnv[name];
  }
  const child = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stderr: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (line) => stderr.push(line));
  const listening = new Promise<string>((resolve, reject) => {
    child.once('exit', (code) =>
      reject(new Error(`${what} exited (${String(code)}) before listening:\n${stderr.join('\n')}`)),
    );
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const event = JSON.parse(line) as { event?: string; url?: string };
        if (event.event === 'listening' && event.url) resolve(event.url);
      } catch {
        // Not one of its JSON lines.
      }
    });
  });
  return { child, listening };
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Polls an instant query until it returns a series. Prometheus scrapes on its own schedule
 * (every second in the test run) and offers nothing to wait on, so this polls.
 */
export async function queryUntil(query: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const response = await fetch(
      `${prometheusUrl}/api/v1/query?query=${encodeURIComponent(query)}`,
    );
    last = await response.text();
    const body = JSON.parse(last) as { data?: { result?: unknown[] } };
    if ((body.data?.result?.length ?? 0) > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(
    `Prometheus returned no series for ${query} within ${timeoutMs} ms (last answer: ${last})`,
  );
}
