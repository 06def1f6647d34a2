#!/usr/bin/env node
/**
 * npm run demo [-- --once] [--orders N] [--simulate-seconds S] [--pricing-triangles N]
 *
 * Starts real PostgreSQL (primary + replica), Redis, RabbitMQ, Prometheus and VictoriaMetrics
 * on loopback, runs the reference MES beside them, seeds orders, drives shop, CRM, B2B and operator
 * traffic, and prints the legacy baseline table that meskit's parts are measured against.
 * The operators' first page is measured direct and through @meskit/cache-proxy (in this
 * process, its index in the demo's Redis, fed by the MES's events on RabbitMQ).
 * Pricing is shown side by side: the same model uploaded to the MES as it is (legacy pricing
 * on its event loop) and to a second MES switched to `MES_PRICING=runner`, cold and cached.
 * Without --once it keeps everything running, with its URLs printed, until Ctrl-C.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  generateCubeStl,
  generateRingStl,
  seedOrders,
  simulateTraffic,
} from '@meskit/reference-mes';
import { createCacheProxy } from '@meskit/cache-proxy';
import { freePort, startServices, type Services } from '@meskit/services';
import { startLokiReceiver, startOtlpReceiver } from '@meskit/otel-bootstrap/testing';
import { createDatabase, formatTable, sampleGet, spawnMes, type MesProcess } from '@meskit/bench';

interface DemoOptions {
  once: boolean;
  orders: number;
  simulateSeconds: number;
  pricingTriangles: number;
}

function parseOptions(argv: string[]): DemoOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      once: { type: 'boolean', default: false },
      orders: { type: 'string', default: '200000' },
      'simulate-seconds': { type: 'string', default: '10' },
      'pricing-triangles': { type: 'string', default: '50000' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(
      'usage: npm run demo -- [--once] [--orders N (200000)] [--simulate-seconds S (10)] [--pricing-triangles N (50000)]\n',
    );
    process.exit(0);
  }
  const int = (name: string, raw: string, min: number): number => {
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min) {
      process.stderr.write(`demo: --${name} must be an integer >= ${min} (got "${raw}")\n`);
      process.exit(2);
    }
    return value;
  };
  return {
    once: values.once,
    orders: int('orders', values.orders, 1),
    simulateSeconds: int('simulate-seconds', values['simulate-seconds'], 0),
    pricingTriangles: int('pricing-triangles', values['pricing-triangles'], 12),
  };
}

const log = (line: string) => process.stderr.write(`demo: ${line}\n`);

/** The MES logs JSON lines (pino); the demo shows only its warnings and errors. */
function echoMesWarnings(line: string): void {
  try {
    const entry = JSON.parse(line) as { level?: number | string };
    const level =
      typeof entry.level === 'number'
        ? entry.level
        : ({ warn: 40, error: 50, fatal: 60 }[String(entry.level)] ?? 30);
    if (level < 40) return;
  } catch {
    /* not JSON: show it */
  }
  process.stderr.write(`mes: ${line}\n`);
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  let services: Services | undefined;
  let mes: MesProcess | undefined;
  let runnerMes: MesProcess | undefined;
  let reliableMes: MesProcess | undefined;
  const closers: (() => Promise<void>)[] = [];
  const shutdown = async () => {
    await Promise.all([mes?.stop(), runnerMes?.stop(), reliableMes?.stop()]);
    await Promise.allSettled(closers.map((close) => close()));
    await services?.close();
  };
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) return;
    interrupted = true;
    log('stopping');
    void shutdown().then(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    services = await startServices({ log });
    const urls = services.urls;
    const databaseUrl = await createDatabase(urls.DATABASE_URL!, 'mes');
    const replicaUrl = new URL(urls.DATABASE_REPLICA_URL!);
    replicaUrl.pathname = '/mes';
    const modelDir = join(services.dir, 'models');
    mkdirSync(modelDir, { recursive: true });

    // No Collector or Loki can run here: the demo stands the test receivers in for them,
    // unless real ones are configured in the environment.
    const collector = process.env['OTEL_EXPORTER_OTLP_ENDPOINT']
      ? undefined
      : await startOtlpReceiver();
    const loki = process.env['MESKIT_LOKI_URL'] ? undefined : await startLokiReceiver();
    if (collector) closers.push(() => collector.close());
    if (loki) closers.push(() => loki.close());
    const otlpEndpoint = process.env['OTEL_EXPORTER_OTLP_ENDPOINT'] ?? collector!.url;
    const lokiUrl = process.env['MESKIT_LOKI_URL'] ?? loki!.url;
    const metricsPort = await freePort();
    const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;

    // The MES unchanged: telemetry comes from the --import flag alone.
    mes = await spawnMes({
      env: {
        DATABASE_URL: databaseUrl,
        AMQP_URL: urls.AMQP_URL!,
        MES_MODEL_DIR: modelDir,
        // The baseline whatever the caller's shell says.
        MES_PRICING: 'legacy',
        OTEL_SERVICE_NAME: 'mes',
        OTEL_EXPORTER_OTLP_ENDPOINT: otlpEndpoint,
        MESKIT_LOKI_URL: lokiUrl,
        MESKIT_METRICS_PORT: String(metricsPort),
      },
      execArgv: ['--import', '@meskit/otel-bootstrap/register'],
      onStderr: echoMesWarnings,
    });
    services.prometheus?.setScrapeJob({ job: 'mes', targets: [`127.0.0.1:${metricsPort}`] });
    log(`reference MES listening on ${mes.url}, metrics on ${metricsUrl}`);

    log(`seeding ${options.orders.toLocaleString('en-US')} orders`);
    const seeded = await seedOrders({ databaseUrl, orders: options.orders });
    log(`seeded in ${(seeded.ms / 1000).toFixed(1)} s`);

    const pagePath = '/api/orders?status=MANUFACTURING_APPROVED&page=1&pageSize=20';
    const firstPage = `${mes.url}${pagePath}`;
    const page = await sampleGet(firstPage, { samples: 100, warmup: 3 });

    // Started after the seed, as after a bulk import: its first read fills the index.
    const adminToken = randomBytes(24).toString('hex');
    const proxy = await createCacheProxy({
      upstream: mes.url,
      port: 0,
      redis: urls.REDIS_URL!,
      amqpUrl: urls.AMQP_URL!,
      adminToken,
      adminPort: 0,
    });
    closers.push(() => proxy.close());
    log(`cache-proxy listening on ${proxy.url} (admin ${proxy.adminUrl!}), index in Redis`);
    const proxiedPage = await sampleGet(`${proxy.url}${pagePath}`, { samples: 100, warmup: 3 });

    const triangles = options.pricingTriangles.toLocaleString('en-US');
    log(`pricing a ${triangles}-triangle model the legacy way`);
    const model = generateRingStl({ triangles: options.pricingTriangles });
    const legacy = await quoteB2b(mes.url, model, 'demo-legacy');

    // The same MES code switched by configuration: no broker (the first MES consumes the
    // inbox), same database and model store.
    log('starting a second reference MES with MES_PRICING=runner');
    runnerMes = await spawnMes({
      env: {
        DATABASE_URL: databaseUrl,
        AMQP_URL: '',
        MES_MODEL_DIR: modelDir,
        MES_PRICING: 'runner',
        MES_LOG_LEVEL: 'warn',
      },
      onStderr: echoMesWarnings,
    });
    // A small other model first, so "cold" measures a cache miss, not the worker's start-up.
    await quoteB2b(runnerMes.url, generateCubeStl(), 'demo-runner-warmup');
    log(`pricing the same model through pricing-runner (${runnerMes.url}): cold, then cached`);
    const runnerCold = await quoteB2b(runnerMes.url, model, 'demo-runner-cold');
    const runnerCached = await quoteB2b(runnerMes.url, model, 'demo-runner-cached');

    let simulation: Awaited<ReturnType<typeof simulateTraffic>> | undefined;
    let proxiedSimulation: Awaited<ReturnType<typeof simulateTraffic>> | undefined;
    if (options.simulateSeconds > 0) {
      log(`simulating shop, CRM, B2B and operator traffic for ${options.simulateSeconds} s`);
      simulation = await simulateTraffic({
        mesUrl: mes.url,
        amqpUrl: urls.AMQP_URL!,
        modelDir,
        durationMs: options.simulateSeconds * 1000,
      });
      // The same day again with every HTTP client behind the proxy: operators' pages come from
      // the index, their takes and the CRM's approvals (events) keep it right.
      log(`the same traffic through cache-proxy for ${options.simulateSeconds} s`);
      proxiedSimulation = await simulateTraffic({
        mesUrl: proxy.url,
        amqpUrl: urls.AMQP_URL!,
        modelDir,
        durationMs: options.simulateSeconds * 1000,
      });
    }
    // The same MES code again with MES_MESSAGING=reliable: the events of its takes go through
    // mq-reliable's outbox and publisher confirms.
    log(
      'starting a third reference MES with MES_MESSAGING=reliable and DATABASE_REPLICA_URL, and taking orders through it',
    );
    reliableMes = await spawnMes({
      env: {
        DATABASE_URL: databaseUrl,
        AMQP_URL: urls.AMQP_URL!,
        MES_MODEL_DIR: modelDir,
        MES_MESSAGING: 'reliable',
        // ... and reading from the replica through db-router.
        DATABASE_REPLICA_URL: replicaUrl.toString(),
        MES_LOG_LEVEL: 'warn',
      },
      onStderr: echoMesWarnings,
    });
    const reliableStats = await takeAndCount(reliableMes.url, 20);
    const cacheStats = proxy.stats();
    const listRequests = Object.values(cacheStats.requests).reduce((a, b) => a + b, 0);
    const stats = (await (await fetch(`${mes.url}/internal/stats`)).json()) as {
      published: number;
      publishedUnconfirmed: number;
    };

    const scraped = await scrapedUp(urls.PROMETHEUS_URL!, 'mes');
    // VictoriaMetrics reads the same scrape targets: the brief's other metrics backend.
    const scrapedByVm = await scrapedUp(urls.VICTORIA_METRICS_URL!, 'mes');
    const rows: (string | number)[][] = [
      ['measure', 'legacy MES', 'with meskit'],
      [
        `first page p50 at ${options.orders.toLocaleString('en-US')} orders (ms)`,
        page.p50Ms,
        `cache-proxy: ${ms(proxiedPage.p50Ms)}`,
      ],
      [
        `first page p99 at ${options.orders.toLocaleString('en-US')} orders (ms)`,
        page.p99Ms,
        `cache-proxy: ${ms(proxiedPage.p99Ms)}`,
      ],
      [
        `B2B quote, ${legacy.body.polygonCount.toLocaleString('en-US')}-triangle model (ms)`,
        Math.round(legacy.ms),
        `pricing-runner: ${Math.round(runnerCold.ms)} cold, ${Math.round(runnerCached.ms)} ${
          // Says what happened: a second quote that missed the cache is not shown as a hit.
          runnerCached.body.pricing?.cached ? 'cached' : 'again (cache missed)'
        }`,
      ],
      [
        'price of that model',
        `${legacy.body.price} ${legacy.body.currency} (legacy formula)`,
        `${runnerCold.body.price} ${runnerCold.body.currency} (${runnerCold.body.pricing?.alloy ?? '?'}, model ${runnerCold.body.pricing?.modelVersion ?? '?'})`,
      ],
      [
        'reads served by a replica',
        'one database for everything',
        reliableStats.database
          ? `db-router: ${reliableStats.database.reads.replica} of ${reliableStats.database.reads.replica + reliableStats.database.reads.primary} reads, replica lag ${reliableStats.database.replicas.map((r) => `${r.lagSeconds.toFixed(2)} s`).join(', ')}`
          : 'db-router: not in use',
      ],
      [
        'messages published without confirmation',
        stats.publishedUnconfirmed,
        `mq-reliable: ${reliableStats.publishedUnconfirmed} of ${reliableStats.published} (outbox, confirmed)`,
      ],
    ];
    if (simulation) {
      rows.push([
        'operator first page p50 / p99 under traffic (ms)',
        `${ms(simulation.firstPageLatency.p50Ms)} / ${ms(simulation.firstPageLatency.p99Ms)}`,
        proxiedSimulation
          ? `cache-proxy: ${ms(proxiedSimulation.firstPageLatency.p50Ms)} / ${ms(proxiedSimulation.firstPageLatency.p99Ms)}`
          : '',
      ]);
      rows.push([
        'takes won / lost to another operator',
        `${simulation.takesWon} / ${simulation.takesLost}`,
        proxiedSimulation
          ? `cache-proxy: ${proxiedSimulation.takesWon} / ${proxiedSimulation.takesLost}`
          : '',
      ]);
    }
    rows.push([
      'new-orders list requests answered from the cache',
      'no cache',
      listRequests === 0
        ? 'cache-proxy: none yet'
        : `cache-proxy: ${cacheStats.requests.hit} of ${listRequests} (${Math.round((cacheStats.requests.hit / listRequests) * 100)} %)`,
    ]);
    rows.push(
      [
        'trace spans exported (OTLP)',
        'none',
        collector ? collector.spans.length : 'to your collector',
      ],
      [
        'log lines shipped to Loki, with trace ids',
        'none',
        loki ? loki.lines.length : 'to your Loki',
      ],
      ['Prometheus scrapes the MES', 'no metrics', scraped ? 'up' : 'not yet'],
      ['VictoriaMetrics scrapes the MES', 'no metrics', scrapedByVm ? 'up' : 'not yet'],
    );
    process.stdout.write('\nmeskit demo: the legacy MES and what meskit changes so far\n\n');
    process.stdout.write(`${formatTable(rows)}\n\n`);

    if (options.once) {
      await shutdown();
      return;
    }
    process.stdout.write(
      [
        'Running. Point meskit at it (e.g. `npx meskit doctor`) with:',
        `export DATABASE_URL='${databaseUrl}'`,
        `export DATABASE_REPLICA_URL='${replicaUrl.toString()}'`,
        `export REDIS_URL='${urls.REDIS_URL!}'`,
        `export AMQP_URL='${urls.AMQP_URL!}'`,
        `export PROMETHEUS_URL='${urls.PROMETHEUS_URL!}'`,
        `export VICTORIA_METRICS_URL='${urls.VICTORIA_METRICS_URL!}'`,
        `export MESKIT_MES_URL='${mes.url}'`,
        `export MESKIT_METRICS_URL='${metricsUrl}'`,
        `export OTEL_EXPORTER_OTLP_ENDPOINT='${otlpEndpoint}'`,
        `export MESKIT_LOKI_URL='${lokiUrl}'`,
        `export MESKIT_CACHE_PROXY_URL='${proxy.url}'`,
        `export MESKIT_CACHE_ADMIN_URL='${proxy.adminUrl!}'`,
        `export MESKIT_CACHE_ADMIN_TOKEN='${adminToken}'`,
        '',
        `MES API: ${firstPage}`,
        `The same page through cache-proxy: ${proxy.url}${pagePath} (npx meskit cache stats)`,
        `The same MES pricing through pricing-runner (MES_PRICING=runner): ${runnerMes.url}`,
        `The same MES on mq-reliable (MES_MESSAGING=reliable): ${reliableMes.url}`,
        'Ctrl-C stops everything.',
        '',
      ].join('\n'),
    );
    setInterval(() => {}, 1 << 30);
  } catch (error) {
    log(`failed: ${error instanceof Error ? error.message : String(error)}`);
    await shutdown();
    process.exit(1);
  }
}

/** Milliseconds for the table: one decimal is all a latency sample deserves. */
function ms(value: number): string {
  return value.toLocaleString('en-US', { minimumFractionDigits: 1, maximumFractionDigits: 1 });
}

interface B2bQuote {
  /** Upload to answer, as the partner sees it. */
  ms: number;
  body: {
    polygonCount: number;
    price: number;
    currency: string;
    pricing?: {
      engine: string;
      cached: boolean;
      durationMs: number;
      alloy?: string;
      modelVersion?: string;
    };
  };
}

/** One B2B upload (`POST /api/b2b/orders`), timed from the partner's side. */
async function quoteB2b(mesUrl: string, model: Uint8Array, name: string): Promise<B2bQuote> {
  const externalId = `${name}-${Date.now()}`;
  const started = performance.now();
  const response = await fetch(
    `${mesUrl}/api/b2b/orders?externalId=${externalId}&filename=ring.stl`,
    { method: 'POST', headers: { 'content-type': 'model/stl' }, body: model },
  );
  const text = await response.text();
  const ms = performance.now() - started;
  if (!response.ok)
    throw new Error(`the B2B quote ${externalId} failed: ${response.status} ${text}`);
  return { ms, body: JSON.parse(text) as B2bQuote['body'] };
}

/**
 * Takes up to `count` of the newest approved orders through `mesUrl`, then reads its messaging
 * counters once every take's event is confirmed (or after 20 s, as they are).
 */
async function takeAndCount(
  mesUrl: string,
  count: number,
): Promise<{
  published: number;
  publishedUnconfirmed: number;
  database?: { reads: { primary: number; replica: number }; replicas: { lagSeconds: number }[] };
}> {
  const page = (await (
    await fetch(`${mesUrl}/api/orders?status=MANUFACTURING_APPROVED&page=1&pageSize=${count}`)
  ).json()) as { items: { id: number }[] };
  let taken = 0;
  for (const { id } of page.items) {
    const response = await fetch(`${mesUrl}/api/orders/${id}/take`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ operatorId: 1 }),
    });
    await response.arrayBuffer();
    if (response.ok) taken += 1;
  }
  const read = async () =>
    (await (await fetch(`${mesUrl}/internal/stats`)).json()) as Awaited<
      ReturnType<typeof takeAndCount>
    >;
  const deadline = Date.now() + 20_000;
  let stats = await read();
  while (stats.published < taken && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    stats = await read();
  }
  return stats;
}

/** Whether Prometheus (or VictoriaMetrics) reports the job's target up (every second scrapes). */
async function scrapedUp(prometheusUrl: string, job: string): Promise<boolean> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const response = await fetch(
      `${prometheusUrl}/api/v1/query?query=${encodeURIComponent(`up{job="${job}"}`)}`,
    );
    const body = (await response.json()) as { data?: { result?: { value: [number, string] }[] } };
    if (body.data?.result?.[0]?.value[1] === '1') return true;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return false;
}

void main();
