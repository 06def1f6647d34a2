// The otel benchmark's numbers: each (request, variant) over the rounds, the paired ratios,
// and the human table.
import { round } from '../lib/stats.js';
import type { FixedMeasurement } from './otel-fixed.js';
import type { SaturatedResult } from './otel-saturated.js';
import { REQUEST_KINDS, VARIANTS, type RequestKind, type Variant } from './otel-setup.js';

/** Every round's measurement of each (request, variant), in round order. */
export type Rounds = Record<RequestKind, Record<Variant, FixedMeasurement[]>>;

export interface VariantSummary {
  /** Requests per second, fixed. */
  rate: number;
  /** CPU µs of the MES process per request: the median round's and every round's. */
  cpuUsPerRequest: { median: number; rounds: number[] };
  /** Where the CPU times came from (see lib/proc-cpu.ts), one per round. */
  cpuSources: string[];
  /** Medians over the rounds. */
  p50Ms: number;
  p99Ms: number;
  /** The rounds' mean of spans per request. */
  spansPerRequest: number;
  /** Completed requests and errors in the measured windows, all rounds. */
  requests: number;
  errors: number;
}

export interface RequestRatios {
  /** bootstrap ÷ bare, CPU per request. */
  cpuPerRequest: number;
  /** bootstrap-ratio (10% of traces sampled) ÷ bare. */
  cpuPerRequestSampled: number;
  /**
   * bootstrap-untraced (metrics and logs, no tracing) ÷ bare: the part of the two above that
   * is not tracing. Reported, not a target.
   */
  cpuPerRequestUntraced: number;
  /** (upstream − bare) ÷ (bootstrap − bare): what upstream adds over what ours adds. */
  vsUpstream: number;
  /** bootstrap p99 − bare p99, in ms. */
  addedP99Ms: number;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export function summarizeVariant(runs: readonly FixedMeasurement[]): VariantSummary {
  const requests = runs.reduce((sum, r) => sum + r.requests, 0);
  return {
    rate: runs[0]!.rate,
    cpuUsPerRequest: {
      median: round(median(runs.map((r) => r.cpuUs)), 1),
      rounds: runs.map((r) => round(r.cpuUs, 1)),
    },
    cpuSources: runs.map((r) => r.cpuSource),
    p50Ms: round(median(runs.map((r) => r.p50Ms))),
    p99Ms: round(median(runs.map((r) => r.p99Ms))),
    spansPerRequest: round(runs.reduce((sum, r) => sum + r.spansPerRequest, 0) / runs.length, 3),
    requests,
    errors: runs.reduce((sum, r) => sum + r.errors, 0),
  };
}

/**
 * Paired: each round's variants against the bare run of the same round (minutes apart at
 * most, under the same load), then the median over the rounds.
 */
export function requestRatios(runs: Record<Variant, FixedMeasurement[]>): RequestRatios {
  const paired = (f: (round: Record<Variant, FixedMeasurement>) => number, digits = 3) =>
    round(
      median(
        runs.bare.map((_, i) =>
          f(
            Object.fromEntries(VARIANTS.map((v) => [v, runs[v][i]!])) as Record<
              Variant,
              FixedMeasurement
            >,
          ),
        ),
      ),
      digits,
    );
  return {
    cpuPerRequest: paired((r) => r.bootstrap.cpuUs / r.bare.cpuUs),
    cpuPerRequestSampled: paired((r) => r['bootstrap-ratio'].cpuUs / r.bare.cpuUs),
    cpuPerRequestUntraced: paired((r) => r['bootstrap-untraced'].cpuUs / r.bare.cpuUs),
    vsUpstream: paired(
      (r) => (r.upstream.cpuUs - r.bare.cpuUs) / (r.bootstrap.cpuUs - r.bare.cpuUs),
    ),
    addedP99Ms: paired((r) => r.bootstrap.p99Ms - r.bare.p99Ms),
  };
}

/** The table printed before the JSON: fixed-rate rows, saturated rows, then the ratios. */
export function otelTable(
  summaries: Record<RequestKind, Record<Variant, VariantSummary>>,
  ratios: Record<RequestKind, RequestRatios>,
  saturated: SaturatedResult,
  rounds: number,
): (string | number)[][] {
  const rows: (string | number)[][] = [
    [
      `fixed rate, median of ${rounds} rounds`,
      'rate (req/s)',
      'CPU (µs/req)',
      'p50 (ms)',
      'p99 (ms)',
      'spans/req',
    ],
  ];
  for (const kind of REQUEST_KINDS)
    for (const variant of VARIANTS) {
      const s = summaries[kind][variant];
      rows.push([
        `${kind}, ${variant}`,
        s.rate,
        s.cpuUsPerRequest.median,
        s.p50Ms,
        s.p99Ms,
        s.spansPerRequest,
      ]);
    }
  rows.push(['saturated (wrk), median round', 'req/s', '', 'p50 (ms)', 'p99 (ms)', 'spans/req']);
  for (const [name, row] of Object.entries(saturated.rows))
    rows.push([
      name,
      Math.round(row.requestsPerSecond),
      '',
      row.p50Ms,
      row.p99Ms,
      row.spansPerRequest,
    ]);
  for (const kind of REQUEST_KINDS)
    for (const [name, value] of Object.entries(ratios[kind]))
      rows.push([`ratio ${kind} ${name}`, value.toFixed(3), '', '', '', '']);
  for (const [name, value] of Object.entries(saturated.ratios))
    rows.push([`ratio saturated ${name}`, value.toFixed(3), '', '', '', '']);
  return rows;
}
