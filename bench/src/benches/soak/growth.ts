// How much a series grew over the soak, robustly: a statistic of the samples in a window right
// after the warm-up against the same statistic in a window at the end. A single sample means
// little (the heap saws up and down with GC, a pool opens and closes connections); the median
// of two minutes of samples does, and for the heap its lowest decile (the level GC brings it
// back to: the live data).
import { percentile } from '../../lib/stats.js';
import { formatValue, SERIES_INFO, type SeriesName } from './series.js';

/** Series whose growth passes or fails the soak; the event-loop delay is reported only. */
export const GATED_SERIES: readonly SeriesName[] = ['rss', 'heap', 'fds', 'sockets'];

/** Growth at or above this fraction (10%) fails the soak. */
export const GROWTH_LIMIT = 0.1;

/**
 * A window of comparison is this long, or a third of the measured time if that is shorter.
 * Two minutes, not one: under the simulated traffic the heap saws between GCs with a period of
 * 25-40 s, so a one-minute window holds fewer than two cycles and its median moves with where
 * in a cycle the window starts and ends; two minutes (24 samples at 5 s) hold three to five.
 */
export const WINDOW_SECONDS = 120;

/**
 * The statistic of a window, per series. `median` for RSS, descriptors, sockets and the
 * event-loop delay. `floor` (the 10th percentile, nearest rank: the 3rd lowest of 24) for the
 * heap: heap used saws between the live data, right after a GC, and wherever V8 lets the young
 * generation fill up before the next one, and V8 widens that saw as it sizes its spaces to the
 * allocation rate, minutes into a run. Its median moves with the saw's amplitude (measured: up
 * 25% in ten minutes with a flat floor); a leak raises the floor.
 */
export type WindowStatistic = 'median' | 'floor';
export const WINDOW_STATISTIC: Readonly<Record<SeriesName, WindowStatistic>> = {
  rss: 'median',
  heap: 'floor',
  fds: 'median',
  sockets: 'median',
  eldP99: 'median',
  heapTotal: 'median',
  external: 'median',
  threads: 'median',
};

/** The statistic's value of a window's samples; NaN when empty. */
export function windowValue(values: readonly number[], statistic: WindowStatistic): number {
  if (statistic === 'median') return median(values);
  return percentile(
    [...values].sort((a, b) => a - b),
    10,
  );
}

/** One sample of one series: seconds since the soak started, and the value (null: not read). */
export interface Point {
  t: number;
  value: number | null;
}

export interface Windows {
  /** Seconds since the start when the warm-up ended and when the soak ended. */
  warmupEndS: number;
  endS: number;
  windowS: number;
  /** [from, to): the window right after the warm-up. */
  first: [number, number];
  /** (from, to]: the window at the end. */
  last: [number, number];
}

/** The two windows of comparison of a soak of `warmupS` then `measuredS` seconds. */
export function growthWindows(warmupS: number, measuredS: number): Windows {
  if (!(warmupS >= 0) || !(measuredS > 0))
    throw new RangeError(
      `a soak needs a warm-up >= 0 and a measured time > 0 (got ${warmupS}, ${measuredS})`,
    );
  const windowS = Math.min(WINDOW_SECONDS, measuredS / 3);
  const endS = warmupS + measuredS;
  return {
    warmupEndS: warmupS,
    endS,
    windowS,
    first: [warmupS, warmupS + windowS],
    last: [endS - windowS, endS],
  };
}

/** The median (the mean of the two middle values of an even count); NaN when empty. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export interface Growth {
  statistic: WindowStatistic;
  /** The statistic of the first window's samples (null: none read). */
  start: number | null;
  /** The statistic of the last window's samples. */
  end: number | null;
  /** (end - start) / start; null when either is missing or start is 0. */
  growth: number | null;
  /** Samples in each window. */
  samples: [number, number];
}

/** The values read in a window; `closed` says which end is inclusive. */
function inWindow(points: readonly Point[], [from, to]: [number, number], closed: 'from' | 'to') {
  return points
    .filter((p) => (closed === 'from' ? p.t >= from && p.t < to : p.t > from && p.t <= to))
    .flatMap((p) => (p.value === null || !Number.isFinite(p.value) ? [] : [p.value]));
}

/** The series' growth between the two windows, by `statistic` (default: the median). */
export function computeGrowth(
  points: readonly Point[],
  windows: Windows,
  statistic: WindowStatistic = 'median',
): Growth {
  const first = inWindow(points, windows.first, 'from');
  const last = inWindow(points, windows.last, 'to');
  const start = first.length > 0 ? windowValue(first, statistic) : null;
  const end = last.length > 0 ? windowValue(last, statistic) : null;
  return {
    statistic,
    start,
    end,
    growth: start === null || end === null || start === 0 ? null : (end - start) / start,
    samples: [first.length, last.length],
  };
}

/** A process as the verdict sees it. */
export interface GatedProcess {
  id: string;
  label: string;
  /** Its growth fails the soak (the meskit processes); otherwise it is reported only. */
  gated: boolean;
  /** The series read for it (Redis has no heap, for one). */
  series: readonly SeriesName[];
}

/**
 * Why the growth fails the soak, one line per (process, series): every gated process's gated
 * series must have grown less than GROWTH_LIMIT, and must have samples in both windows.
 */
export function growthFailures(
  processes: readonly GatedProcess[],
  growth: Readonly<Record<string, Partial<Record<SeriesName, Growth>>>>,
): string[] {
  const failures: string[] = [];
  for (const process of processes) {
    if (!process.gated) continue;
    for (const name of GATED_SERIES) {
      if (!process.series.includes(name)) continue;
      const g = growth[process.id]?.[name];
      if (!g || g.growth === null)
        failures.push(
          `${process.label}: ${SERIES_INFO[name].title} has no samples to compare in one of the windows`,
        );
      else if (g.growth >= GROWTH_LIMIT)
        failures.push(
          `${process.label}: ${SERIES_INFO[name].title} grew ${(g.growth * 100).toFixed(1)}% (${formatValue(name, g.start)} -> ${formatValue(name, g.end)} ${SERIES_INFO[name].unit}), the limit is ${GROWTH_LIMIT * 100}%`,
        );
    }
  }
  return failures;
}
