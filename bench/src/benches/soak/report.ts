// The soak's numbers: each process's growth per series, the errors of each side, the verdict,
// as the table printed before the JSON line.
import type { SimulationReport } from '@meskit/reference-mes';
import { round } from '../../lib/stats.js';
import { computeGrowth, WINDOW_STATISTIC, type Growth, type Windows } from './growth.js';
import { extraSeriesOf, seriesOf, type ProcessSeries, type SampledProcess } from './sampler.js';
import { EXTRA_SERIES, formatValue, SERIES, SERIES_INFO, type SeriesName } from './series.js';

/** Growth by process id, then series (each by its WINDOW_STATISTIC). */
export type GrowthByProcess = Record<string, Partial<Record<SeriesName, Growth>>>;

export function growthOf(
  processes: readonly SampledProcess[],
  series: Readonly<Record<string, ProcessSeries>>,
  windows: Windows,
): GrowthByProcess {
  const out: GrowthByProcess = {};
  for (const p of processes) {
    out[p.id] = {};
    for (const name of [...seriesOf(p), ...extraSeriesOf(p)])
      out[p.id]![name] = computeGrowth(series[p.id]![name], windows, WINDOW_STATISTIC[name]);
  }
  return out;
}

/** The heap's median growth too (reported beside its gated floor, not gated). */
export function heapMedianOf(
  processes: readonly SampledProcess[],
  series: Readonly<Record<string, ProcessSeries>>,
  windows: Windows,
): Record<string, Growth> {
  return Object.fromEntries(
    processes
      .filter((p) => seriesOf(p).includes('heap'))
      .map((p) => [p.id, computeGrowth(series[p.id]!.heap, windows, 'median')]),
  );
}

/** "95.1 -> 97 (+2.0%)" */
export function growthCell(name: SeriesName, g: Growth | undefined): string {
  if (!g) return '';
  const pct =
    g.growth === null ? 'n/a' : `${g.growth >= 0 ? '+' : ''}${(g.growth * 100).toFixed(1)}%`;
  return `${formatValue(name, g.start)} -> ${formatValue(name, g.end)} (${pct})`;
}

/** Growth fractions rounded for the JSON (4 digits: a hundredth of a percent). */
export function growthJson(growth: GrowthByProcess): Record<string, Record<string, unknown>> {
  return Object.fromEntries(
    Object.entries(growth).map(([id, bySeries]) => [
      id,
      Object.fromEntries(
        Object.entries(bySeries).map(([name, g]) => [
          name,
          {
            statistic: g.statistic,
            start: g.start === null ? null : round(g.start, 6),
            end: g.end === null ? null : round(g.end, 6),
            growth: g.growth === null ? null : round(g.growth, 4),
            samples: g.samples,
          },
        ]),
      ),
    ]),
  );
}

/** Sum of a side's error counts. */
export function total(errors: Readonly<Record<string, number>>): number {
  return Object.values(errors).reduce((sum, n) => sum + n, 0);
}

export interface TableInput {
  processes: readonly SampledProcess[];
  growth: GrowthByProcess;
  heapMedian: Record<string, Growth>;
  windows: Windows;
  errors: { meskit: Record<string, number>; bare: Record<string, number> };
  traffic: { meskit: SimulationReport; bare: SimulationReport };
  telemetry: { spans: number; logLines: number };
  cacheHitRatio: number | null;
  failures: readonly string[];
  ratios: Record<string, number | Record<string, number>>;
}

export function soakTable(input: TableInput): (string | number)[][] {
  const { processes, growth, windows } = input;
  const width = processes.length + 1;
  const pad = (row: (string | number)[]): (string | number)[] => [
    ...row,
    ...Array.from({ length: Math.max(0, width - row.length) }, () => ''),
  ];
  const w = Math.round(windows.windowS);
  const rows: (string | number)[][] = [
    [
      `growth, the first ${w} s after the warm-up -> the last ${w} s (medians)`,
      ...processes.map((p) => (p.gated ? p.label : `${p.label}, not gated`)),
    ],
  ];
  for (const name of SERIES) {
    const floor = WINDOW_STATISTIC[name] === 'floor' ? ', lowest decile' : '';
    rows.push([
      `${SERIES_INFO[name].title}${floor} (${SERIES_INFO[name].unit})`,
      ...processes.map((p) => growthCell(name, growth[p.id]?.[name])),
    ]);
    if (name === 'heap')
      rows.push([
        `${SERIES_INFO.heap.title}, median (${SERIES_INFO.heap.unit}), not gated`,
        ...processes.map((p) => growthCell('heap', input.heapMedian[p.id])),
      ]);
  }

  for (const name of EXTRA_SERIES)
    rows.push([
      `${SERIES_INFO[name].title} (${SERIES_INFO[name].unit}), not gated`,
      ...processes.map((p) => growthCell(name, growth[p.id]?.[name])),
    ]);

  rows.push(pad(['errors (each must be 0)', 'with meskit', 'bare MES']));
  rows.push(pad(['total', total(input.errors.meskit), total(input.errors.bare)]));
  const kinds = [
    ...new Set([...Object.keys(input.errors.meskit), ...Object.keys(input.errors.bare)]),
  ];
  for (const kind of kinds) {
    const a = input.errors.meskit[kind];
    const b = input.errors.bare[kind];
    if ((a ?? 0) > 0 || (b ?? 0) > 0) rows.push(pad([kind, a ?? '', b ?? '']));
  }

  const t = input.traffic;
  const ms = (v: number) => round(v, 1);
  rows.push(
    pad(['traffic', 'with meskit', 'bare MES']),
    pad([
      'first page p50 / p99 (ms)',
      `${ms(t.meskit.firstPageLatency.p50Ms)} / ${ms(t.meskit.firstPageLatency.p99Ms)}`,
      `${ms(t.bare.firstPageLatency.p50Ms)} / ${ms(t.bare.firstPageLatency.p99Ms)}`,
    ]),
    pad(['first-page requests', t.meskit.firstPageRequests, t.bare.firstPageRequests]),
    pad([
      'takes won / lost',
      `${t.meskit.takesWon} / ${t.meskit.takesLost}`,
      `${t.bare.takesWon} / ${t.bare.takesLost}`,
    ]),
    pad([
      'shop orders / B2B quotes',
      `${t.meskit.shopOrdersSubmitted} / ${t.meskit.b2bQuotes}`,
      `${t.bare.shopOrdersSubmitted} / ${t.bare.b2bQuotes}`,
    ]),
    pad([
      'spans / log lines received',
      `${input.telemetry.spans} / ${input.telemetry.logLines}`,
      'none',
    ]),
    pad([
      'first pages served from the cache',
      input.cacheHitRatio === null ? 'n/a' : `${round(input.cacheHitRatio * 100, 1)}%`,
      'no cache',
    ]),
    pad(['verdict', input.failures.length === 0 ? 'pass' : `FAIL (${input.failures.length})`, '']),
    ...input.failures.map((f) => pad([`  ${f}`])),
    pad(['ratios', JSON.stringify(input.ratios)]),
  );
  return rows;
}
