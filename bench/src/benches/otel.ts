import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import pg from 'pg';
import { startOtlpReceiver } from '@meskit/otel-bootstrap/testing';
import { seedOrders } from '@meskit/reference-mes';
import { startServices } from '@meskit/services';
import { defineBenchmark } from '../lib/bench.js';
import { createDatabase, settleAfterSeed } from '../lib/database.js';
import { spawnMes } from '../lib/mes-process.js';
import { round } from '../lib/stats.js';
import {
  measureCapacity,
  measureFixed,
  type FixedMeasurement,
  type OtelRun,
} from './otel-fixed.js';
import {
  otelTable,
  requestRatios,
  summarizeVariant,
  type RequestRatios,
  type Rounds,
  type VariantSummary,
} from './otel-report.js';
import { runSaturated } from './otel-saturated.js';
import {
  REQUEST_KINDS,
  SEEDED_ORDERS,
  VARIANTS,
  traced,
  useScheduleDelay,
  type RequestKind,
  type Variant,
} from './otel-setup.js';

/** The fixed rate is this fraction of the bare MES's saturated capacity for the request. */
const CAPACITY_SHARE = 5;

/**
 * Spans a measured window must show per request: none bare or untraced, and the server span
 * plus pg traced.
 */
function checkSpans(kind: RequestKind, variant: Variant, m: FixedMeasurement): void {
  const perRequest = m.spansPerRequest;
  const ok = traced(variant)
    ? perRequest > (variant === 'bootstrap-ratio' ? 0 : 1)
    : perRequest === 0;
  if (!ok)
    throw new Error(
      `${kind} ${variant}: ${round(perRequest, 3)} spans per request; is it tracing (server span and pg)?`,
    );
}

/**
 * What telemetry costs the MES, as OpenTelemetry's performance benchmarks measure it: at a
 * fixed request rate (a fifth of the bare MES's capacity), the CPU time of the service process
 * per request and the latency, for get-one-order (one indexed query) and the take (a
 * transaction and an AMQP publish), each bare, with the bootstrap (every trace sampled, one
 * in ten, or tracing off: its metrics and logs alone), and with upstream's zero-code
 * auto-instrumentations-node. Interleaved rounds, a fresh MES for each measurement, paired
 * ratios (the median of the per-round ratios). The saturated wrk rows of the earlier version
 * follow, reported, not gated.
 */
export const otel = defineBenchmark({
  name: 'otel',
  description:
    'telemetry cost at a fixed rate: MES CPU µs/request and latency, bare / bootstrap / bootstrap 10% sampled / bootstrap untraced (metrics and logs only) / upstream auto-instrumentations-node (rates 0 = a fifth of the measured capacity), plus saturated wrk rows',
  defaults: {
    seconds: 6,
    // Longer than the generator's idle-connection timeout (undici's 4 s): a fresh process that
    // fell behind at its start made the generator open up to its 256 connections, which went
    // idle, closed and were opened again about 5 s in, a stall of tens of milliseconds that
    // a 2 s warm-up put inside the measured window (docs/benchmarks.md "otel").
    warmup: 8,
    rounds: 5,
    rateGet: 0,
    rateTake: 0,
    capacitySeconds: 3,
    connections: 16,
    saturatedSeconds: 3,
    saturatedRounds: 1,
    scheduleDelayMs: 5_000,
  },
  async run({ options, log }) {
    const { seconds, warmup, rounds, connections } = options;
    useScheduleDelay(options.scheduleDelayMs);
    const started = performance.now();
    // Counting mode: a real OTLP/HTTP JSON endpoint that checks every export and counts its
    // spans without decoding them. It runs in this process, so its CPU is not the service's.
    const receiver = await startOtlpReceiver({ keepSpans: false });
    const services = await startServices({ only: ['postgres', 'rabbitmq'], replica: false, log });
    const workDir = mkdtempSync(join(tmpdir(), 'meskit-bench-otel-'));
    const suffix = `${process.pid}_${Date.now().toString(36)}`;
    const exchange = `bench.otel.${suffix}`;
    const queue = `bench.otel.${suffix}.inbox`;
    const amqpUrl = services.urls.AMQP_URL!;
    let db: pg.Client | undefined;
    try {
      const databaseUrl = await createDatabase(services.urls.DATABASE_URL!, 'mes_bench_otel');
      // The same request log (one line per request) in every variant; the legacy bus on a
      // topic exchange of this run's own (the take publishes order.manufacturing_started).
      const mesEnv = {
        DATABASE_URL: databaseUrl,
        MES_MODEL_DIR: join(workDir, 'models'),
        MES_LOG_LEVEL: 'info',
        AMQP_URL: amqpUrl,
        MES_EXCHANGE: exchange,
        MES_QUEUE: queue,
      };
      // Seeds through a bare MES process (which also creates the schema and the operators).
      const seeder = await spawnMes({ env: mesEnv });
      let operatorId: number;
      try {
        await seedOrders({ databaseUrl, orders: SEEDED_ORDERS });
        const operators = (await (await fetch(`${seeder.url}/api/operators`)).json()) as {
          items: { id: number }[];
        };
        operatorId = operators.items[0]!.id;
      } finally {
        await seeder.stop();
      }
      await settleAfterSeed(databaseUrl);
      db = new pg.Client({ connectionString: databaseUrl });
      await db.connect();
      const run: OtelRun = {
        receiver,
        mesEnv,
        // Logs go to a file, as in production, not to a pipe this busy process drains.
        stderrFile: join(workDir, 'server.log'),
        workDir,
        db,
        operatorId,
        log,
      };

      const capacity: Record<RequestKind, number | null> = { 'get-one-order': null, take: null };
      const rates = {} as Record<RequestKind, number>;
      for (const kind of REQUEST_KINDS) {
        const given = kind === 'take' ? options.rateTake : options.rateGet;
        if (given > 0) rates[kind] = given;
        else {
          const rps = await measureCapacity(run, kind, {
            seconds: options.capacitySeconds,
            connections,
          });
          capacity[kind] = Math.round(rps);
          rates[kind] = Math.max(1, Math.round(rps / CAPACITY_SHARE));
          log(`${kind}: bare capacity ${Math.round(rps)} req/s, fixed rate ${rates[kind]} req/s`);
        }
      }

      const results = Object.fromEntries(
        REQUEST_KINDS.map((kind) => [kind, Object.fromEntries(VARIANTS.map((v) => [v, []]))]),
      ) as unknown as Rounds;
      for (let r = 0; r < rounds; r++) {
        // Rotated each round, so no variant always runs first or right after another.
        const order = [
          ...VARIANTS.slice(r % VARIANTS.length),
          ...VARIANTS.slice(0, r % VARIANTS.length),
        ];
        for (const kind of REQUEST_KINDS)
          for (const variant of order) {
            const m = await measureFixed(run, kind, variant, {
              rate: rates[kind],
              seconds,
              warmup,
            });
            checkSpans(kind, variant, m);
            results[kind][variant].push(m);
            log(
              `round ${r + 1}/${rounds}, ${kind}, ${variant}: ${round(m.cpuUs, 1)} µs CPU/request (${m.cpuSource}), p50 ${m.p50Ms} ms, p99 ${m.p99Ms} ms, ${round(m.spansPerRequest, 2)} spans/request`,
            );
          }
      }

      const saturated = await runSaturated({
        receiver,
        mesEnv,
        stderrFile: run.stderrFile,
        seconds: options.saturatedSeconds,
        rounds: options.saturatedRounds,
        connections,
        log,
      });

      const summaries = Object.fromEntries(
        REQUEST_KINDS.map((kind) => [
          kind,
          Object.fromEntries(VARIANTS.map((v) => [v, summarizeVariant(results[kind][v])])),
        ]),
      ) as Record<RequestKind, Record<Variant, VariantSummary>>;
      const perRequest = Object.fromEntries(
        REQUEST_KINDS.map((kind) => [kind, requestRatios(results[kind])]),
      ) as Record<RequestKind, RequestRatios>;
      const ratios = {
        ...perRequest['get-one-order'],
        take: { ...perRequest.take },
        ...saturated.ratios,
      };
      const elapsedSeconds = Math.round((performance.now() - started) / 1000);
      log(`done in ${elapsedSeconds} s`);
      return {
        table: otelTable(summaries, perRequest, saturated, rounds),
        json: {
          bench: 'otel',
          options,
          capacity,
          rates,
          fixedRate: summaries,
          saturated: saturated.rows,
          elapsedSeconds,
          ratios,
        },
      };
    } finally {
      await db?.end().catch(() => undefined);
      await dropBrokerObjects(amqpUrl, exchange, queue).catch(() => undefined);
      await receiver.close();
      await services.close();
      rmSync(workDir, { recursive: true, force: true });
    }
  },
});

/** The MES declared a durable exchange and queue of this run's: gone with the run. */
async function dropBrokerObjects(url: string, exchange: string, queue: string): Promise<void> {
  const connection = await amqp.connect(url);
  try {
    const channel = await connection.createChannel();
    await channel.deleteQueue(queue);
    await channel.deleteExchange(exchange);
  } finally {
    await connection.close();
  }
}
