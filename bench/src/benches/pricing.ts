import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyzeMesh, priceMesh } from '@meskit/pricing-runner';
import { generateRingStl, legacyPrice } from '@meskit/reference-mes';
import { ensureInstalled, locate } from '@meskit/services';
import { intOption, type Benchmark } from '../lib/bench.js';
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

/**
 * The pricing runner's mesh analysis against admesh (whole process, the commodity tool) on
 * the same ~1M-triangle closed binary STL, the geometry-only pass in MB/s, and legacy pricing
 * against the runner on a 100k-triangle model. Worker scaling and the result cache join when
 * the pool and cache land.
 */
export const pricing: Benchmark = {
  name: 'pricing',
  description:
    'mesh analysis vs admesh on a ~1M-triangle STL, geometry MB/s, legacy pricing vs the runner at 100k (--triangles N --runs N)',
  async run({ options, log }) {
    const triangles = intOption(options, 'triangles', 1_000_000);
    const runs = intOption(options, 'runs', 5);
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

      const volumeError = Math.abs(analysis.volume - admeshVolume) / Math.abs(admeshVolume);
      const ratios = {
        vsAdmesh: round(admeshMs / runnerMs, 2),
        legacySpeedup: round(legacyMs / runner100kMs, 0),
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
          watertight: analysis.watertight,
          volumeRelativeDiffVsAdmesh: volumeError,
          ratios,
        },
      };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
