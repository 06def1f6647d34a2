/** Latency statistics over a sample, in milliseconds. */
export interface LatencySummary {
  samples: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  minMs: number;
  maxMs: number;
}

/** Nearest-rank percentile of an ascending-sorted array. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function summarize(durationsMs: readonly number[]): LatencySummary {
  const sorted = [...durationsMs].sort((a, b) => a - b);
  const total = sorted.reduce((sum, value) => sum + value, 0);
  return {
    samples: sorted.length,
    p50Ms: round(percentile(sorted, 50)),
    p99Ms: round(percentile(sorted, 99)),
    meanMs: round(total / Math.max(1, sorted.length)),
    minMs: round(sorted[0] ?? Number.NaN),
    maxMs: round(sorted.at(-1) ?? Number.NaN),
  };
}

export function round(value: number, digits = 3): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/**
 * Times `samples` sequential GETs of `url` after `warmup` untimed ones; every response must
 * be 2xx (a benchmark of error pages measures nothing).
 */
export async function sampleGet(
  url: string,
  opts: { samples: number; warmup?: number; headers?: Record<string, string> },
): Promise<LatencySummary> {
  const durations: number[] = [];
  for (let i = 0; i < (opts.warmup ?? 3) + opts.samples; i++) {
    const started = performance.now();
    const response = await fetch(url, { headers: opts.headers ?? {} });
    await response.arrayBuffer();
    const elapsed = performance.now() - started;
    if (!response.ok) throw new Error(`GET ${url} answered ${response.status}`);
    if (i >= (opts.warmup ?? 3)) durations.push(elapsed);
  }
  return summarize(durations);
}
