// Samples every process of the soak on a fixed schedule: RSS and descriptors from /proc, heap
// used and event-loop delay p99 from its Prometheus /metrics (prom-client's default metrics,
// or the bare MES's probe serving the same two names).
import { setTimeout as sleep } from 'node:timers/promises';
import type { Point } from './growth.js';
import { metricValue, scrape } from './prometheus.js';
import { readDescriptors, readStatus } from './proc.js';
import {
  EXTRA_SERIES,
  SERIES,
  type ExtraSeriesName,
  type PlottedSeriesName,
  type SeriesName,
} from './series.js';

/** prom-client's default metrics the soak reads (process.memoryUsage().heapUsed, and the
 * p99 of monitorEventLoopDelay since the previous scrape, which resets it). */
export const HEAP_METRIC = 'nodejs_heap_size_used_bytes';
export const ELD_P99_METRIC = 'nodejs_eventloop_lag_p99_seconds';
/** Read when present, never required: where the memory goes. */
export const HEAP_TOTAL_METRIC = 'nodejs_heap_size_total_bytes';
export const EXTERNAL_METRIC = 'nodejs_external_memory_bytes';

export type ProcessRole = 'meskit' | 'baseline' | 'server';

export interface SampledProcess {
  /** A short key: `mes`, `cacheProxy`, `bareMes`, `redis`, `rabbitmq`. */
  id: string;
  label: string;
  role: ProcessRole;
  /** Its growth fails the soak (the meskit processes). */
  gated: boolean;
  pid: number;
  /** Its /metrics, for heap and event-loop delay; none for the servers. */
  metricsUrl?: string;
}

/** The plotted series a process has: all of them with a /metrics, else what /proc gives. */
export function seriesOf(process: SampledProcess): readonly PlottedSeriesName[] {
  return process.metricsUrl === undefined ? ['rss', 'fds', 'sockets'] : SERIES;
}

/** The extra series a process has: V8's figures with a /metrics, its threads in any case. */
export function extraSeriesOf(process: SampledProcess): readonly ExtraSeriesName[] {
  return process.metricsUrl === undefined ? ['threads'] : EXTRA_SERIES;
}

export type ProcessSeries = Record<SeriesName, Point[]>;

export interface SamplerOptions {
  processes: readonly SampledProcess[];
  intervalMs: number;
  /** Sample k is due at start + k × intervalMs, for every k with k × intervalMs <= durationMs. */
  durationMs: number;
  /** After each round, with its time (seconds since the start) and its number. */
  onRound?: (t: number, round: number) => void;
}

export interface Sampler {
  /** Every process's points so far, by process id. */
  readonly series: Readonly<Record<string, ProcessSeries>>;
  /** Reads that failed (a /proc file, a scrape), by process id, and the first one's reason. */
  readonly failures: Readonly<Record<string, number>>;
  readonly firstFailure: string | undefined;
  /** Resolves after the last round, or soon after stop(). */
  readonly done: Promise<void>;
  stop(): void;
}

const emptySeries = (): ProcessSeries =>
  Object.fromEntries(
    [...SERIES, ...EXTRA_SERIES].map((name) => [name, []]),
  ) as unknown as ProcessSeries;

/**
 * One scrape of every process's /metrics, the answers dropped: the event-loop delay histograms
 * reset at each scrape, so the first sample then covers the interval since this call rather
 * than everything since the process started (its start-up included).
 */
export async function primeMetrics(processes: readonly SampledProcess[]): Promise<void> {
  await Promise.all(
    processes.flatMap((p) =>
      p.metricsUrl === undefined ? [] : [scrape(p.metricsUrl, 5_000).catch(() => undefined)],
    ),
  );
}

/** Starts sampling at once (round 0 now); times are seconds since this call. */
export function startSampler(opts: SamplerOptions): Sampler {
  const { processes, intervalMs, durationMs } = opts;
  if (!(intervalMs > 0) || !(durationMs >= 0))
    throw new RangeError('the sampler needs intervalMs > 0 and durationMs >= 0');
  const series: Record<string, ProcessSeries> = {};
  const failures: Record<string, number> = {};
  for (const p of processes) {
    series[p.id] = emptySeries();
    failures[p.id] = 0;
  }
  let firstFailure: string | undefined;
  const fail = (p: SampledProcess, why: string): void => {
    failures[p.id]! += 1;
    firstFailure ??= `${p.label} (pid ${p.pid}): ${why}`;
  };
  const stopper = new AbortController();
  const started = performance.now();
  // A scrape must end before the next round is due.
  const scrapeTimeoutMs = Math.max(100, Math.min(5_000, intervalMs * 0.8));

  const sampleProcess = async (p: SampledProcess): Promise<void> => {
    const t = (performance.now() - started) / 1000;
    const own = series[p.id]!;
    const push = (name: SeriesName, value: number | null) => own[name].push({ t, value });
    try {
      const { rss, threads } = readStatus(p.pid);
      push('rss', rss);
      push('threads', threads);
    } catch (error) {
      push('rss', null);
      push('threads', null);
      fail(p, `RSS: ${message(error)}`);
    }
    try {
      const { fds, sockets } = readDescriptors(p.pid);
      push('fds', fds);
      push('sockets', sockets);
    } catch (error) {
      push('fds', null);
      push('sockets', null);
      fail(p, `descriptors: ${message(error)}`);
    }
    if (p.metricsUrl === undefined) return;
    try {
      const samples = await scrape(p.metricsUrl, scrapeTimeoutMs);
      const heap = metricValue(samples, HEAP_METRIC);
      const eld = metricValue(samples, ELD_P99_METRIC);
      if (heap === undefined || eld === undefined)
        throw new Error(`${p.metricsUrl} has no ${HEAP_METRIC} or ${ELD_P99_METRIC}`);
      push('heap', heap);
      push('eldP99', eld);
      push('heapTotal', metricValue(samples, HEAP_TOTAL_METRIC) ?? null);
      push('external', metricValue(samples, EXTERNAL_METRIC) ?? null);
    } catch (error) {
      push('heap', null);
      push('eldP99', null);
      push('heapTotal', null);
      push('external', null);
      fail(p, `metrics: ${message(error)}`);
    }
  };

  const done = (async () => {
    const rounds = Math.floor(durationMs / intervalMs);
    for (let k = 0; k <= rounds && !stopper.signal.aborted; k++) {
      const wait = started + k * intervalMs - performance.now();
      if (wait > 0) await sleep(wait, undefined, { signal: stopper.signal }).catch(() => undefined);
      if (stopper.signal.aborted) break;
      await Promise.all(processes.map(sampleProcess));
      opts.onRound?.((performance.now() - started) / 1000, k);
    }
  })();

  return {
    series,
    failures,
    get firstFailure() {
      return firstFailure;
    },
    done,
    stop: () => stopper.abort(),
  };
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
