// The otel benchmark's saturated rows, reported and not gated: wrk as fast as it goes against
// the MES's get-one-order bare and with the bootstrap, and a trivial endpoint bare, with the
// bootstrap and with a plain upstream NodeSDK + instrumentation-http.
import { fileURLToPath } from 'node:url';
import type { OtlpReceiver } from '@meskit/otel-bootstrap/testing';
import { spawnListening, spawnMes, type SpawnOptions } from '../lib/mes-process.js';
import { round } from '../lib/stats.js';
import { runWrk, type WrkResult } from '../lib/wrk.js';
import { GET_PATH, settle, telemetryEnv } from './otel-setup.js';

const TRIVIAL = fileURLToPath(new URL('../../fixtures/trivial-server.mjs', import.meta.url));
const UPSTREAM = fileURLToPath(new URL('../../fixtures/upstream-register.mjs', import.meta.url));
const OURS = ['--import', '@meskit/otel-bootstrap/register'];

export const SATURATED = [
  'mes bare',
  'mes with bootstrap',
  'trivial bare',
  'trivial with bootstrap',
  'trivial with upstream NodeSDK',
] as const;
type Saturated = (typeof SATURATED)[number];

export interface SaturatedRow extends WrkResult {
  spansPerRequest: number;
}

export interface SaturatedResult {
  rows: Record<Saturated, SaturatedRow>;
  ratios: { throughput: number; p99: number; trivialThroughput: number; trivialVsUpstream: number };
}

/** Median of the rounds by throughput, so one noisy round does not decide the ratio. */
function median(results: WrkResult[]): WrkResult {
  const sorted = [...results].sort((a, b) => a.requestsPerSecond - b.requestsPerSecond);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Variants in interleaved rounds under wrk; the median round of each is compared. */
export async function runSaturated(opts: {
  receiver: OtlpReceiver;
  mesEnv: Record<string, string>;
  stderrFile: string;
  seconds: number;
  rounds: number;
  connections: number;
  log: (line: string) => void;
}): Promise<SaturatedResult> {
  const { receiver, seconds, rounds, connections, log } = opts;
  const telemetry = telemetryEnv(receiver.url);
  const start = (script: string | undefined, spawn: Omit<SpawnOptions, 'stderrFile'>) => () => {
    const withLog = { ...spawn, stderrFile: opts.stderrFile };
    return script ? spawnListening(script, withLog) : spawnMes(withLog);
  };
  const variants: { name: Saturated; path: string; start: ReturnType<typeof start> }[] = [
    { name: 'mes bare', path: GET_PATH, start: start(undefined, { env: opts.mesEnv }) },
    {
      name: 'mes with bootstrap',
      path: GET_PATH,
      start: start(undefined, { env: { ...opts.mesEnv, ...telemetry }, execArgv: OURS }),
    },
    { name: 'trivial bare', path: '/health', start: start(TRIVIAL, { env: {} }) },
    {
      name: 'trivial with bootstrap',
      path: '/health',
      start: start(TRIVIAL, { env: telemetry, execArgv: OURS }),
    },
    {
      name: 'trivial with upstream NodeSDK',
      path: '/health',
      start: start(TRIVIAL, { env: telemetry, execArgv: ['--import', UPSTREAM] }),
    },
  ];
  const results = new Map<Saturated, WrkResult[]>(SATURATED.map((name) => [name, []]));
  const spans = new Map<Saturated, number>(SATURATED.map((name) => [name, 0]));
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
        // The warm-up's spans in before counting starts: spans per request then counts the
        // measured run's spans only (flushed by the stop below).
        await settle(receiver);
        receiver.clear();
        const result = await runWrk(url, { seconds, connections });
        if (result.errors > 0)
          throw new Error(`${variant.name}: ${result.errors} failed requests under load`);
        results.get(variant.name)!.push(result);
        log(
          `saturated, round ${round_}/${rounds}, ${variant.name}: ${Math.round(result.requestsPerSecond)} req/s, p99 ${result.p99Ms} ms`,
        );
      } finally {
        await server.stop(); // flushes the spans still queued
      }
      spans.set(variant.name, spans.get(variant.name)! + receiver.spanCount);
    }
  }
  const m = (name: Saturated) => median(results.get(name)!);
  const perRequest = (name: Saturated) => {
    const requests = results.get(name)!.reduce((sum, r) => sum + r.requests, 0);
    return requests ? round(spans.get(name)! / requests, 2) : 0;
  };
  const ratio = (a: Saturated, b: Saturated) =>
    round(m(a).requestsPerSecond / m(b).requestsPerSecond, 3);
  return {
    rows: Object.fromEntries(
      SATURATED.map((name) => [name, { ...m(name), spansPerRequest: perRequest(name) }]),
    ) as Record<Saturated, SaturatedRow>,
    ratios: {
      throughput: ratio('mes with bootstrap', 'mes bare'),
      p99: round(m('mes with bootstrap').p99Ms / m('mes bare').p99Ms, 3),
      trivialThroughput: ratio('trivial with bootstrap', 'trivial bare'),
      trivialVsUpstream: ratio('trivial with bootstrap', 'trivial with upstream NodeSDK'),
    },
  };
}
