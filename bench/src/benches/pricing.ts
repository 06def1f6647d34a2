import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  analyzeMesh,
  createPricingPool,
  createPricingRunner,
  priceMesh,
} from '@meskit/pricing-runner';
import { generateRingStl, legacyPrice } from '@meskit/reference-mes';
import { ensureInstalled, locate } from '@meskit/services';
import { defineBenchmark } from '../lib/bench.js';
import { round } from '../lib/stats.js';

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Median wall time of `runs` calls of `task`, after `warmup` untimed ones. */
function time(task: () => void, runs: number, warmup = 2): number {
  for (let i = 0; i < warmup; i++) task();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    task();
    times.push(performance.now() - started);
  }
  return median(times);
}

/** `count` copies of `model`, each with its index in the (ignored) STL header: distinct cache keys, same work. */
function distinctCopies(model: Buffer, count: number): Buffer[] {
  return Array.from({ length: count }, (_, index) => {
    const copy = Buffer.from(model);
    copy.writeUInt32LE(index + 1, 0);
    return copy;
  });
}

/**
 * Models priced per second by a pool of `threads` workers given `models` all at once; the
 * median of `rounds`. The pool, not the runner: the runner's content hash runs on the main
 * thread and on 2 cores would blur what a second worker adds. Each job gets its own copy (the
 * bytes are transferred).
 */
async function pricedPerSecond(threads: number, models: Buffer[], rounds: number): Promise<number> {
  const pool = createPricingPool({ threads, maxQueue: models.length });
  try {
    // Warm-up: every worker started and its JIT warm.
    await Promise.all(models.slice(0, threads * 2).map((model) => pool.submit(Buffer.from(model))));
    const rates: number[] = [];
    for (let round_ = 0; round_ < rounds; round_++) {
      const copies = models.map((model) => Buffer.from(model));
      const started = performance.now();
      await Promise.all(copies.map((copy) => pool.submit(copy)));
      rates.push(models.length / ((performance.now() - started) / 1000));
    }
    return median(rates);
  } finally {
    await pool.close();
  }
}

/** Median times of a cold quote (cache miss: hash, worker, cache write) and of a hit of the same bytes. */
async function coldAndHit(models: Buffer[]): Promise<{ coldMs: number; hitMs: number }> {
  const runner = createPricingRunner({ threads: 1 });
  try {
    const cold: number[] = [];
    const hit: number[] = [];
    for (const model of models) {
      let started = performance.now();
      const first = await runner.quote(Buffer.from(model));
      cold.push(performance.now() - started);
      started = performance.now();
      const second = await runner.quote(Buffer.from(model));
      hit.push(performance.now() - started);
      if (first.cached || !second.cached)
        throw new Error('pricing bench: the cache did not behave');
    }
    // The first cold quote also started the worker: left out.
    return { coldMs: median(cold.slice(1)), hitMs: median(hit.slice(1)) };
  } finally {
    await runner.close();
  }
}

/**
 * The pricing runner's mesh analysis against admesh (whole process, the commodity tool) on
 * the same ~1M-triangle closed binary STL, the geometry-only pass in MB/s, and legacy pricing
 * against the runner on a 100k-triangle model, the runner's throughput with 1 and 2 worker
 * threads, and a cache hit against a cold quote.
 */
export const pricing = defineBenchmark({
  name: 'pricing',
  description:
    'mesh analysis vs admesh on a ~1M-triangle STL, geometry MB/s, legacy pricing vs the runner at 100k, worker scaling 1 -> 2 threads, cache hit vs cold',
  defaults: { triangles: 1_000_000, runs: 5 },
  async run({ options: { triangles, runs }, log }) {
    ensureInstalled(['admesh'], log);
    const admesh = locate('admesh');
    const dir = mkdtempSync(join(tmpdir(), 'meskit-bench-pricing-'));
    try {
      const file = join(dir, 'ring-1m.stl');
      writeFileSync(file, generateRingStl({ triangles }));
      const input = readFileSync(file);
      log(`model: ${input.length.toLocaleString('en-US')} bytes`);

      let admeshOutput = '';
      const admeshMs = time(
        () => {
          const result = spawnSync(admesh, [file], { encoding: 'utf8', maxBuffer: 1 << 24 });
          if (result.status !== 0) throw new Error(`admesh failed: ${result.stderr}`);
          admeshOutput = result.stdout;
        },
        runs,
        1,
      );
      const admeshVolume = Number(/Volume\s*:\s*([\d.eE+-]+)/.exec(admeshOutput)?.[1]);
      let analysis = analyzeMesh(input);
      const runnerMs = time(() => (analysis = analyzeMesh(input)), runs);
      const geometryMs = time(() => analyzeMesh(input, { topology: false }), runs);
      const geometryMBps = round(input.length / 1e6 / (geometryMs / 1000), 0);
      log(`admesh ${round(admeshMs, 1)} ms, runner ${round(runnerMs, 1)} ms`);

      const model100k = generateRingStl({ triangles: 100_000 });
      const legacyMs = time(() => legacyPrice(model100k), 1, 0);
      const runner100kMs = time(() => priceMesh(analyzeMesh(model100k)), runs);

      // Pool throughput on 100k-triangle models, 1 then 2 worker threads.
      const batch = Array.from({ length: 24 }, () => model100k);
      const oneThread = await pricedPerSecond(1, batch, 3);
      const twoThreads = await pricedPerSecond(2, batch, 3);
      log(`pool: ${round(oneThread, 1)} models/s on 1 thread, ${round(twoThreads, 1)} on 2`);
      const { coldMs, hitMs } = await coldAndHit(distinctCopies(model100k, runs + 1));
      log(`cache: cold ${round(coldMs, 1)} ms, hit ${round(hitMs, 2)} ms`);

      const volumeError = Math.abs(analysis.volume - admeshVolume) / Math.abs(admeshVolume);
      const ratios = {
        vsAdmesh: round(admeshMs / runnerMs, 2),
        legacySpeedup: round(legacyMs / runner100kMs, 0),
        workerScaling: round(twoThreads / oneThread, 2),
        cacheHitSpeedup: round(coldMs / hitMs, 1),
      };
      return {
        table: [
          ['measure', 'baseline', 'runner', 'ratio'],
          [
            `analysis of ${analysis.triangles.toLocaleString('en-US')} triangles, watertight check included (ms)`,
            round(admeshMs, 1),
            round(runnerMs, 1),
            ratios.vsAdmesh,
          ],
          ['geometry-only pass (MB/s)', '', geometryMBps, ''],
          [
            'pricing a 100k-triangle model (ms): legacy vs runner',
            round(legacyMs, 0),
            round(runner100kMs, 1),
            ratios.legacySpeedup,
          ],
          [
            'models priced per second, 100k triangles: 1 worker thread vs 2',
            round(oneThread, 1),
            round(twoThreads, 1),
            ratios.workerScaling,
          ],
          [
            'quote of a 100k-triangle model (ms): cold vs cache hit',
            round(coldMs, 2),
            round(hitMs, 3),
            ratios.cacheHitSpeedup,
          ],
          [
            'volume (mm³): admesh (float32) vs runner (float64)',
            admeshVolume,
            round(analysis.volume, 6),
            `rel. diff ${volumeError.toExponential(2)}`,
          ],
        ],
        json: {
          bench: 'pricing',
          triangles: analysis.triangles,
          bytes: input.length,
          admeshMs: round(admeshMs, 2),
          runnerMs: round(runnerMs, 2),
          geometryMs: round(geometryMs, 2),
          geometryMBps,
          legacyMs: round(legacyMs, 1),
          runner100kMs: round(runner100kMs, 2),
          pricedPerSecond: { oneThread: round(oneThread, 2), twoThreads: round(twoThreads, 2) },
          coldQuoteMs: round(coldMs, 3),
          cacheHitMs: round(hitMs, 3),
          watertight: analysis.watertight,
          volumeRelativeDiffVsAdmesh: volumeError,
          ratios,
        },
      };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
});
