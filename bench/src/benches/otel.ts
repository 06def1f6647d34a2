import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startOtlpReceiver } from '@meskit/otel-bootstrap/testing';
import { seedOrders } from '@meskit/reference-mes';
import { startServices } from '@meskit/services';
import { defineBenchmark } from '../lib/bench.js';
import { createDatabase } from '../lib/database.js';
import { spawnListening, spawnMes, type SpawnOptions } from '../lib/mes-process.js';
import { round } from '../lib/stats.js';
import { runWrk, type WrkResult } from '../lib/wrk.js';

const TRIVIAL = fileURLToPath(new URL('../../fixtures/trivial-server.mjs', import.meta.url));
const UPSTREAM = fileURLToPath(new URL('../../fixtures/upstream-register.mjs', import.meta.url));
const OURS = ['--import', '@meskit/otel-bootstrap/register'];
const SCHEDULE_DELAY_MS = 200;

interface Variant {
  name: string;
  start: () => Promise<{ url: string; stop: () => Promise<void> }>;
  path: string;
}

/** Resolves once the receiver got no spans for a few export intervals (OTEL_BSP_SCHEDULE_DELAY). */
async function settle(receiver: { readonly spanCount: number }): Promise<void> {
  let last = -1;
  while (receiver.spanCount !== last) {
    last = receiver.spanCount;
    await new Promise((resolve) => setTimeout(resolve, 3 * SCHEDULE_DELAY_MS));
  }
}

/** Median of the rounds by throughput, so one noisy round does not decide the ratio. */
function median(results: WrkResult[]): WrkResult {
  const sorted = [...results].sort((a, b) => a.requestsPerSecond - b.requestsPerSecond);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/**
 * What @meskit/otel-bootstrap costs a service, every trace sampled and exported to an OTLP
 * receiver: the MES's get-one-order (one indexed query) with and without it, and a trivial
 * endpoint bare, with it, and with a plain upstream NodeSDK + instrumentation-http. Variants
 * run in interleaved rounds under wrk; the median round of each is compared.
 */
export const otel = defineBenchmark({
  name: 'otel',
  description:
    'telemetry overhead: MES get-one-order and a trivial endpoint, with/without the bootstrap and vs upstream NodeSDK',
  defaults: { seconds: 5, rounds: 3, connections: 16 },
  async run({ options: { seconds, rounds, connections }, log }) {
    // Counting mode: a real OTLP/HTTP JSON endpoint that checks every export and counts its
    // spans without decoding them. The receiver runs in this process, on the same 2 cores as
    // the server under test; decoding every span stole measurable CPU from it, and the
    // collector's cost is not the application's.
    const receiver = await startOtlpReceiver({ keepSpans: false });
    const services = await startServices({ only: ['postgres'], replica: false, log });
    const modelDir = mkdtempSync(join(tmpdir(), 'meskit-bench-models-'));
    // Every span sampled and exported; the batch processor sized so it keeps up rather
    // than dropping (dropping would make telemetry look cheaper than it is).
    const telemetryEnv: Record<string, string> = {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_TRACES_SAMPLER: 'always_on',
      OTEL_BSP_SCHEDULE_DELAY: String(SCHEDULE_DELAY_MS),
      OTEL_BSP_MAX_QUEUE_SIZE: '65536',
      OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '2048',
      OTEL_SERVICE_NAME: 'bench',
      MESKIT_METRICS_PORT: '0',
    };
    try {
      const databaseUrl = await createDatabase(services.urls.DATABASE_URL!, 'mes_bench_otel');
      // The same request log (one line per request) with and without the bootstrap.
      const mesEnv = { DATABASE_URL: databaseUrl, MES_MODEL_DIR: modelDir, MES_LOG_LEVEL: 'info' };
      // Seeds through a bare MES process (which also creates the schema).
      const seeder = await spawnMes({ env: mesEnv });
      await seedOrders({ databaseUrl, orders: 10_000 });
      await seeder.stop();
      // Logs go to a file, as in production, not to a pipe this busy process drains.
      const stderrFile = join(modelDir, 'server.log');
      const start = (script: string | undefined, opts: SpawnOptions) => async () => {
        const withLog = { ...opts, stderrFile };
        const started = script ? await spawnListening(script, withLog) : await spawnMes(withLog);
        return { url: started.url, stop: () => started.stop() };
      };
      const variants: Variant[] = [
        { name: 'mes bare', path: '/api/orders/5000', start: start(undefined, { env: mesEnv }) },
        {
          name: 'mes with bootstrap',
          path: '/api/orders/5000',
          start: start(undefined, { env: { ...mesEnv, ...telemetryEnv }, execArgv: OURS }),
        },
        { name: 'trivial bare', path: '/health', start: start(TRIVIAL, { env: {} }) },
        {
          name: 'trivial with bootstrap',
          path: '/health',
          start: start(TRIVIAL, { env: telemetryEnv, execArgv: OURS }),
        },
        {
          name: 'trivial with upstream NodeSDK',
          path: '/health',
          start: start(TRIVIAL, { env: telemetryEnv, execArgv: ['--import', UPSTREAM] }),
        },
      ];
      const results = new Map<string, WrkResult[]>(variants.map((v) => [v.name, []]));
      const spans = new Map<string, number>(variants.map((v) => [v.name, 0]));
      for (let round_ = 1; round_ <= rounds; round_++) {
        for (const variant of variants) {
          const server = await variant.start();
          try {
            const url = `${server.url}${variant.path}`;
            const probe = await fetch(url);
            if (!probe.ok)
              throw new Error(`${variant.name}: GET ${variant.path} answered ${probe.status}`);
            await probe.arrayBuffer();
            await runWrk(url, { seconds: 1, connections }); // warm-up: JIT, pools
            // Let the warm-up's spans arrive before counting starts: spans per request then
            // counts the measured run's spans only (flushed by the stop below).
            await settle(receiver);
            receiver.clear();
            const result = await runWrk(url, { seconds, connections });
            if (result.errors > 0)
              throw new Error(`${variant.name}: ${result.errors} failed requests under load`);
            results.get(variant.name)!.push(result);
            log(
              `round ${round_} ${variant.name}: ${Math.round(result.requestsPerSecond)} req/s, p99 ${result.p99Ms} ms`,
            );
          } finally {
            await server.stop(); // flushes the spans still queued
          }
          spans.set(variant.name, spans.get(variant.name)! + receiver.spanCount);
        }
      }
      const m = (name: string) => median(results.get(name)!);
      const ratios = {
        throughput: round(
          m('mes with bootstrap').requestsPerSecond / m('mes bare').requestsPerSecond,
          3,
        ),
        p99: round(m('mes with bootstrap').p99Ms / m('mes bare').p99Ms, 3),
        trivialThroughput: round(
          m('trivial with bootstrap').requestsPerSecond / m('trivial bare').requestsPerSecond,
          3,
        ),
        trivialVsUpstream: round(
          m('trivial with bootstrap').requestsPerSecond /
            m('trivial with upstream NodeSDK').requestsPerSecond,
          3,
        ),
      };
      const perRequest = (name: string) => {
        const requests = results.get(name)!.reduce((sum, r) => sum + r.requests, 0);
        return requests ? round(spans.get(name)! / requests, 2) : 0;
      };
      return {
        table: [
          ['variant (median of rounds)', 'req/s', 'p50 (ms)', 'p99 (ms)', 'spans per request'],
          ...variants.map((v) => [
            v.name,
            Math.round(m(v.name).requestsPerSecond),
            m(v.name).p50Ms,
            m(v.name).p99Ms,
            perRequest(v.name),
          ]),
          ['ratios', JSON.stringify(ratios), '', '', ''],
        ],
        json: {
          bench: 'otel',
          seconds,
          rounds,
          connections,
          variants: Object.fromEntries(
            variants.map((v) => [v.name, { ...m(v.name), spansPerRequest: perRequest(v.name) }]),
          ),
          ratios,
        },
      };
    } finally {
      await receiver.close();
      await services.close();
      rmSync(modelDir, { recursive: true, force: true });
    }
  },
});
