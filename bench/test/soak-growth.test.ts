// The soak's growth: medians of the window after the warm-up and of the last window, and the
// verdict over the gated processes and series.
import { describe, expect, it } from 'vitest';
import {
  computeGrowth,
  GROWTH_LIMIT,
  growthFailures,
  growthWindows,
  median,
  WINDOW_STATISTIC,
  windowValue,
  type Growth,
  type Point,
} from '../src/benches/soak/growth.js';

/** A sample every `step` s from 0 to `end` s, valued by `f(t)`. */
function samples(end: number, step: number, f: (t: number) => number | null): Point[] {
  const points: Point[] = [];
  for (let t = 0; t <= end; t += step) points.push({ t, value: f(t) });
  return points;
}

describe('growthWindows', () => {
  it('compares the two minutes after the warm-up with the last two minutes', () => {
    const w = growthWindows(120, 600);
    expect(w).toEqual({
      warmupEndS: 120,
      endS: 720,
      windowS: 120,
      first: [120, 240],
      last: [600, 720],
    });
  });

  it('shrinks the windows to a third of a short soak, so they never overlap', () => {
    const w = growthWindows(60, 90);
    expect(w.windowS).toBe(30);
    expect(w.first[1]).toBeLessThanOrEqual(w.last[0]);
  });

  it('refuses a soak with nothing to measure', () => {
    expect(() => growthWindows(60, 0)).toThrow(RangeError);
  });
});

describe('median', () => {
  it('is the middle value, or the mean of the two middle ones', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });
});

describe('computeGrowth', () => {
  const windows = growthWindows(120, 600);

  it('is flat for a series that saws around a constant level (a heap between GCs)', () => {
    const saw = samples(720, 5, (t) => 100 + ((t / 5) % 4) * 10);
    const g = computeGrowth(saw, windows);
    expect(g.growth).toBe(0);
    expect(g.samples).toEqual([24, 24]);
  });

  it('measures a steady leak from the first window to the last', () => {
    const leak = samples(720, 5, (t) => 100 + t / 10);
    const g = computeGrowth(leak, windows);
    // Medians at t = 177.5 and t = 662.5.
    expect(g.start).toBeCloseTo(117.75, 10);
    expect(g.end).toBeCloseTo(166.25, 10);
    expect(g.growth).toBeCloseTo((166.25 - 117.75) / 117.75, 10);
  });

  it('ignores the warm-up however high it went, and one spike in a window', () => {
    const points = samples(720, 5, (t) => (t < 120 ? 1000 : t === 700 ? 10_000 : 50));
    expect(computeGrowth(points, windows).growth).toBe(0);
  });

  it('takes the warm-up end into the first window and the end into the last', () => {
    const points: Point[] = [
      { t: 119.9, value: 1 },
      { t: 120, value: 10 },
      { t: 240, value: 1 },
      { t: 600, value: 1 },
      { t: 720, value: 20 },
    ];
    const g = computeGrowth(points, windows);
    expect(g).toEqual({ statistic: 'median', start: 10, end: 20, growth: 1, samples: [1, 1] });
  });

  it('skips missing samples, and has no growth without samples or from zero', () => {
    const gaps = samples(720, 5, (t) => (t % 10 === 0 ? null : 7));
    expect(computeGrowth(gaps, windows)).toMatchObject({ growth: 0, samples: [12, 12] });
    expect(computeGrowth([], windows)).toEqual({
      statistic: 'median',
      start: null,
      end: null,
      growth: null,
      samples: [0, 0],
    });
    expect(
      computeGrowth(
        samples(720, 5, () => 0),
        windows,
      ).growth,
    ).toBeNull();
  });
});

describe('the heap floor', () => {
  const windows = growthWindows(120, 600);
  // Live data at `floor`, then garbage up to `floor + amplitude` before each GC (every 30 s).
  const heap = (floor: (t: number) => number, amplitude: (t: number) => number) =>
    samples(720, 5, (t) => floor(t) + amplitude(t) * ((t % 30) / 25));

  it('stays flat when only the saw between GCs widens, where the median grows', () => {
    const points = heap(
      () => 32,
      (t) => 5 + (t / 720) * 25,
    );
    expect(WINDOW_STATISTIC.heap).toBe('floor');
    const floor = computeGrowth(points, windows, 'floor');
    expect(floor.growth).toBe(0);
    expect(computeGrowth(points, windows, 'median').growth).toBeGreaterThan(0.2);
  });

  it('grows with the live data', () => {
    const points = heap(
      (t) => 32 + t / 60,
      () => 20,
    );
    const floor = computeGrowth(points, windows, 'floor');
    // The third of the four GCs in each window: t = 180 s and t = 690 s.
    expect(floor.start).toBeCloseTo(32 + 180 / 60, 10);
    expect(floor.end).toBeCloseTo(32 + 690 / 60, 10);
    expect(floor.growth).toBeGreaterThan(GROWTH_LIMIT);
  });

  it('is the 10th percentile by nearest rank: the 3rd lowest of 24', () => {
    expect(
      windowValue(
        [9, 1, 8, 2, 7, 3, 6, 4, 5, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24],
        'floor',
      ),
    ).toBe(3);
    expect(windowValue([4, 1, 3, 2], 'median')).toBe(2.5);
  });
});

describe('growthFailures', () => {
  const g = (growth: number | null): Growth => ({
    statistic: 'median',
    start: 100,
    end: growth === null ? null : 100 * (1 + growth),
    growth,
    samples: [12, 12],
  });
  const processes = [
    {
      id: 'mes',
      label: 'MES with meskit',
      gated: true,
      series: ['rss', 'heap', 'fds', 'sockets', 'eldP99'] as const,
    },
    {
      id: 'bareMes',
      label: 'bare MES',
      gated: false,
      series: ['rss', 'heap', 'fds', 'sockets', 'eldP99'] as const,
    },
    { id: 'redis', label: 'Redis', gated: true, series: ['rss', 'fds', 'sockets'] as const },
  ];

  it('passes growth under the limit, and does not gate the event-loop delay', () => {
    const growth = {
      mes: { rss: g(0.05), heap: g(-0.2), fds: g(0), sockets: g(0.099), eldP99: g(3) },
      bareMes: { rss: g(0.5) },
      redis: { rss: g(0.01), fds: g(0), sockets: g(0) },
    };
    expect(growthFailures(processes, growth)).toEqual([]);
  });

  it('fails a gated series at the limit, names it, and ignores ungated processes', () => {
    const growth = {
      mes: { rss: g(GROWTH_LIMIT), heap: g(0), fds: g(0), sockets: g(0.25), eldP99: g(0) },
      bareMes: { rss: g(5), heap: g(5), fds: g(5), sockets: g(5) },
      redis: { rss: g(0), fds: g(0), sockets: g(0) },
    };
    const failures = growthFailures(processes, growth);
    expect(failures).toHaveLength(2);
    expect(failures[0]).toMatch(/^MES with meskit: RSS grew 10\.0%/);
    expect(failures[1]).toMatch(/^MES with meskit: sockets grew 25\.0% \(100 -> 125 sockets\)/);
  });

  it('fails a gated series it cannot compare', () => {
    const growth = {
      mes: { rss: g(0), heap: g(null), fds: g(0) },
      redis: { rss: g(0), fds: g(0), sockets: g(0) },
    };
    expect(growthFailures(processes, growth)).toEqual([
      'MES with meskit: heap used has no samples to compare in one of the windows',
      'MES with meskit: sockets has no samples to compare in one of the windows',
    ]);
  });
});
