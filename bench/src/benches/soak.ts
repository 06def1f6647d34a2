import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { simulateTraffic, type SimulationReport } from '@meskit/reference-mes';
import { defineBenchmark } from '../lib/bench.js';
import { round } from '../lib/stats.js';
import {
  cacheStatsErrors,
  metricErrorSamples,
  metricErrors,
  metricInfo,
  readCacheStats,
  readMesStats,
  type CacheCounters,
  type MesCounters,
} from './soak/errors.js';
import { checkFlow, flowErrors, FLOW_GRACE_SECONDS, type FlowCheck } from './soak/flow.js';
import { growthFailures, growthWindows, GROWTH_LIMIT, type Windows } from './soak/growth.js';
import { renderSoakSvg } from './soak/plot.js';
import { scrape, type MetricSample } from './soak/prometheus.js';
import { growthJson, growthOf, heapMedianOf, soakTable, total } from './soak/report.js';
import {
  primeMetrics,
  seriesOf,
  startSampler,
  type Sampler,
  type SampledProcess,
} from './soak/sampler.js';
import { formatValue, SERIES } from './soak/series.js';
import { startSoakStack, type Crash, type SoakStack } from './soak/stack.js';

const METHOD =
  'growth = (statistic of the samples in the last window - statistic of the samples in the first window after the warm-up) / the latter; the statistic is the median, for heap used its 10th percentile (nearest rank: the level after GC); a window is 120 s, or a third of the measured time if shorter; the first window is [warm-up end, +window), the last (end - window, end]; gated: RSS, heap used, fds and sockets of the meskit processes, < 10%';

/** One line per process, every minute: where each series stands. */
function progressLine(sampler: Sampler, processes: readonly SampledProcess[], t: number): string {
  const parts = processes.map((p) => {
    const values = seriesOf(p).map((name) => {
      const last = sampler.series[p.id]![name].at(-1)?.value ?? null;
      return `${name} ${formatValue(name, last)}`;
    });
    return `${p.label}: ${values.join(', ')}`;
  });
  return `${round(t / 60, 1)} min | ${parts.join(' | ')}`;
}

/** The plot and the full result (series included) side by side in `dir`. */
function writeOutputs(
  dir: string,
  stamp: string,
  svg: string,
  result: Record<string, unknown>,
): { svg: string; json: string } {
  mkdirSync(dir, { recursive: true });
  const files = {
    svg: resolve(dir, `soak-${stamp}.svg`),
    json: resolve(dir, `soak-${stamp}.json`),
  };
  writeFileSync(files.svg, svg);
  writeFileSync(files.json, `${JSON.stringify({ ...result, files }, null, 2)}\n`);
  return files;
}

function plotOf(stack: SoakStack, sampler: Sampler, windows: Windows, subtitle: string): string {
  return renderSoakSvg({
    title: 'soak: the reference MES with meskit beside the bare MES, under the simulated traffic',
    subtitle,
    processes: stack.processes.map((p) => ({
      id: p.id,
      label: p.label,
      style: p.role === 'meskit' ? 'solid' : p.role === 'baseline' ? 'dashed' : 'thin',
    })),
    series: sampler.series,
    windows,
  });
}

/**
 * A soak: the reference MES under every meskit part (otel-bootstrap, db-router on the replica,
 * mq-reliable, pricing-runner) behind `meskit cache-proxy`, and a bare MES beside it, both
 * under the demo's simulated traffic for the warm-up plus `--minutes`. Every process's RSS,
 * descriptors, sockets, heap used and event-loop delay p99 sampled every `--sampleSeconds`;
 * growth from the end of the warm-up to the end, the errors of both sides, and a plot.
 * Fails (exit 1, after the table and the JSON) on any error or a growth of 10% or more in a
 * meskit process; a process that exits early fails it at once.
 */
export const soak = defineBenchmark({
  name: 'soak',
  description:
    'the MES with every meskit part and the bare MES under the simulated traffic for the warm-up + N minutes: RSS, heap, fds, sockets and event-loop delay p99 of every process, their growth after the warm-up, the errors, an SVG plot in --out',
  defaults: {
    minutes: 10,
    warmupMinutes: 2,
    sampleSeconds: 5,
    orders: 10_000,
    // The young generation pinned at 16 MB per semi-space in every Node process (0: V8's
    // adaptive sizing). docs/benchmarks.md "soak" shows both.
    semiSpaceMb: 16,
    out: 'bench/results',
  },
  async run({ options, log }) {
    const { minutes, warmupMinutes, sampleSeconds, orders, semiSpaceMb } = options;
    const outDir = resolve(process.cwd(), options.out);
    const windows = growthWindows(warmupMinutes * 60, minutes * 60);
    if (windows.windowS / sampleSeconds < 3)
      throw new Error(
        `--sampleSeconds ${sampleSeconds} leaves fewer than 3 samples in a ${windows.windowS} s window: sample more often or soak longer`,
      );
    if (!Number.isInteger(semiSpaceMb) || semiSpaceMb < 0 || semiSpaceMb > 1024)
      throw new Error(
        `--semiSpaceMb ${semiSpaceMb}: use a whole number of MB from 1 to 1024, or 0 for V8's adaptive young generation`,
      );
    const totalMs = (warmupMinutes + minutes) * 60_000;
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const started = performance.now();
    const stack = await startSoakStack({ orders, semiSpaceMb, log });
    const subtitle = `${warmupMinutes} min warm-up + ${minutes} min, a sample every ${sampleSeconds} s, ${orders.toLocaleString('en-US')} seeded orders per MES, young generation ${semiSpaceMb > 0 ? `pinned at ${semiSpaceMb} MB per semi-space` : 'adaptive'}, ${stamp.slice(0, 10)}`;
    let keepLogs = false;
    try {
      const { processes } = stack;
      log(
        `soaking for ${warmupMinutes} + ${minutes} min: ${processes.map((p) => `${p.label} (pid ${p.pid})`).join(', ')}`,
      );
      await primeMetrics(processes);
      // Loki's test receiver keeps every line: counted and dropped at each round instead.
      let logLines = 0;
      let lokiRefused = 0;
      const sampler = startSampler({
        processes,
        intervalMs: sampleSeconds * 1000,
        durationMs: totalMs,
        onRound: (t, k) => {
          logLines += stack.loki.lines.length;
          lokiRefused += stack.loki.rejected;
          stack.loki.clear();
          if (k % Math.max(1, Math.round(60 / sampleSeconds)) === 0)
            log(progressLine(sampler, processes, t));
        },
      });
      const stopTraffic = new AbortController();
      const simulate = (target: SoakStack['meskit']): Promise<SimulationReport> =>
        simulateTraffic({
          mesUrl: target.trafficUrl,
          amqpUrl: stack.services.urls.AMQP_URL!,
          modelDir: target.modelDir,
          exchange: target.exchange,
          durationMs: totalMs,
          signal: stopTraffic.signal,
        });
      const traffic = Promise.all([simulate(stack.meskit), simulate(stack.bare)]);
      const outcome = await Promise.race([
        traffic.then((reports) => ({ kind: 'done' as const, reports })),
        stack.crashed.then((crash) => ({ kind: 'crash' as const, crash })),
      ]).catch((error: unknown) => ({ kind: 'failed' as const, error }));
      const trafficEndedAt = new Date();
      if (outcome.kind !== 'done') {
        stopTraffic.abort();
        sampler.stop();
        await Promise.allSettled([traffic, sampler.done]);
        keepLogs = true;
        const files = writeOutputs(outDir, stamp, plotOf(stack, sampler, windows, subtitle), {
          bench: 'soak',
          options,
          aborted: outcome.kind === 'crash' ? outcome.crash : String(outcome.error),
          series: sampler.series,
        });
        throw new Error(
          outcome.kind === 'crash'
            ? crashMessage(outcome.crash, files, stack.workDir)
            : `the simulated traffic failed: ${outcome.error instanceof Error ? outcome.error.message : String(outcome.error)} (partial plot ${files.svg}, logs in ${stack.workDir})`,
        );
      }
      await sampler.done;
      const [meskitTraffic, bareTraffic] = outcome.reports;
      log(
        `traffic done: with meskit ${meskitTraffic.firstPageRequests} first pages, ${meskitTraffic.takesWon} takes, ${meskitTraffic.errors} errors; bare ${bareTraffic.firstPageRequests} first pages, ${bareTraffic.takesWon} takes, ${bareTraffic.errors} errors`,
      );

      // The end: what every process counted, and whether every message arrived.
      const lastScrape = async (p: SampledProcess | undefined): Promise<MetricSample[]> =>
        p?.metricsUrl ? scrape(p.metricsUrl, 5_000) : [];
      const byId = (id: string) => processes.find((p) => p.id === id);
      const [mesMetrics, proxyMetrics] = await Promise.all([
        lastScrape(byId('mes')),
        lastScrape(byId('cacheProxy')),
      ]);
      const [mesStats, bareStats, cacheStats]: [MesCounters, MesCounters, CacheCounters] =
        await Promise.all([
          readMesStats(stack.meskit.process.url),
          readMesStats(stack.bare.process.url),
          readCacheStats(stack.cacheProxy.adminUrl, stack.cacheProxy.adminToken),
        ]);
      log(`waiting for both MESes to apply the last messages (up to 30 s)`);
      const [meskitFlow, bareFlow]: [FlowCheck, FlowCheck] = await Promise.all([
        checkFlow(stack.meskit.databaseUrl, meskitTraffic, trafficEndedAt),
        checkFlow(stack.bare.databaseUrl, bareTraffic, trafficEndedAt),
      ]);
      logLines += stack.loki.lines.length;
      lokiRefused += stack.loki.rejected;
      // A process that died after the traffic (while draining) crashed all the same.
      const lateCrash = await Promise.race([
        stack.crashed,
        new Promise<undefined>((r) => setTimeout(() => r(undefined), 0)),
      ]);
      if (lateCrash) {
        keepLogs = true;
        throw new Error(crashMessage(lateCrash, undefined, stack.workDir));
      }

      const prefixed = (prefix: string, counts: Record<string, number>) =>
        Object.fromEntries(Object.entries(counts).map(([k, v]) => [`${prefix}${k}`, v]));
      const samplingErrors = (id: string) => ({
        'sampling: reads or scrapes failed': sampler.failures[id] ?? 0,
      });
      const mesCounters = (stats: MesCounters) => ({
        'MES: events lost before the broker': stats.publishFailures,
        'MES: messages consumed without effect': stats.consumeFailures,
      });
      const errors = {
        meskit: {
          'traffic: failed requests and CRM channel errors': meskitTraffic.errors,
          ...mesCounters(mesStats),
          ...flowErrors(meskitFlow),
          ...prefixed('MES: ', metricErrors(mesMetrics)),
          ...prefixed('cache-proxy: ', metricErrors(proxyMetrics)),
          ...cacheStatsErrors(cacheStats),
          'telemetry: OTLP exports refused': stack.otlp.rejected,
          'telemetry: Loki pushes refused': lokiRefused,
          'telemetry: no span received': stack.otlp.spanCount === 0 ? 1 : 0,
          'telemetry: no log line received': logLines === 0 ? 1 : 0,
          ...prefixed('MES with meskit ', samplingErrors('mes')),
          ...prefixed('cache-proxy ', samplingErrors('cacheProxy')),
        },
        bare: {
          'traffic: failed requests and CRM channel errors': bareTraffic.errors,
          ...mesCounters(bareStats),
          ...flowErrors(bareFlow),
          ...prefixed('bare MES ', samplingErrors('bareMes')),
        },
      };

      const growth = growthOf(processes, sampler.series, windows);
      const heapMedian = heapMedianOf(processes, sampler.series, windows);
      const failures = [
        ...growthFailures(
          processes.map((p) => ({ ...p, series: seriesOf(p) })),
          growth,
        ),
        ...(total(errors.meskit) > 0 ? [`${total(errors.meskit)} errors with meskit`] : []),
        ...(total(errors.bare) > 0 ? [`${total(errors.bare)} errors of the bare MES`] : []),
      ];
      const pass = failures.length === 0;
      // A failed soak keeps its processes' logs: the errors and growth are explained there.
      keepLogs = !pass;
      const listRequests = Object.values(cacheStats.requests).reduce((a, b) => a + b, 0);
      const cacheHitRatio = listRequests > 0 ? cacheStats.requests.hit / listRequests : null;
      // The MES with meskit against the bare one, at the end (last window's medians).
      const footprint: Record<string, number> = {};
      for (const name of SERIES) {
        const a = growth['mes']?.[name]?.end;
        const b = growth['bareMes']?.[name]?.end;
        if (a !== null && a !== undefined && b) footprint[name] = round(a / b, 3);
      }
      const ratios = { footprint };
      const elapsedSeconds = Math.round((performance.now() - started) / 1000);
      const traffic_ = { meskit: meskitTraffic, bare: bareTraffic };
      const telemetry = { spans: stack.otlp.spanCount, logLines };
      const summary = {
        bench: 'soak',
        options: { ...options, out: outDir },
        pass,
        failures,
        method: METHOD,
        growthLimit: GROWTH_LIMIT,
        windows,
        processes: processes.map((p) => ({
          id: p.id,
          label: p.label,
          role: p.role,
          gated: p.gated,
          series: seriesOf(p),
        })),
        growth: growthJson(growth),
        heapMedianGrowth: growthJson({ all: heapMedian })['all'],
        errors: {
          meskit: errors.meskit,
          bare: errors.bare,
          total: { meskit: total(errors.meskit), bare: total(errors.bare) },
        },
        flow: { meskit: meskitFlow, bare: bareFlow, graceSeconds: FLOW_GRACE_SECONDS },
        traffic: traffic_,
        stats: { mes: mesStats, bareMes: bareStats, cacheProxy: cacheStats },
        info: { mes: metricInfo(mesMetrics), cacheProxy: metricInfo(proxyMetrics) },
        // Which route answered the 5xx, which outcome a publish had: the samples behind the counts.
        errorSamples: {
          mes: metricErrorSamples(mesMetrics),
          cacheProxy: metricErrorSamples(proxyMetrics),
        },
        telemetry,
        cacheHitRatio: cacheHitRatio === null ? null : round(cacheHitRatio, 4),
        ...(pass ? {} : { logs: stack.workDir }),
        elapsedSeconds,
        ratios,
      };
      const files = writeOutputs(outDir, stamp, plotOf(stack, sampler, windows, subtitle), {
        ...summary,
        series: sampler.series,
      });
      log(`plot ${files.svg}, full result (series included) ${files.json}`);
      if (!pass) {
        log(`FAIL: ${failures.join('; ')} (the processes' logs are kept in ${stack.workDir})`);
        process.exitCode = 1;
      }
      log(`done in ${elapsedSeconds} s`);
      return {
        table: soakTable({
          processes,
          growth,
          heapMedian,
          windows,
          errors,
          traffic: traffic_,
          telemetry,
          cacheHitRatio,
          failures,
          ratios,
        }),
        json: { ...summary, files },
      };
    } finally {
      await stack.close({ keepLogs });
    }
  },
});

function crashMessage(crash: Crash, files: { svg: string } | undefined, workDir: string): string {
  const how = crash.signal ? `signal ${crash.signal}` : `code ${String(crash.code)}`;
  return [
    `${crash.label} exited (${how}) during the soak: a crash fails the run.`,
    ...(files ? [`partial plot ${files.svg}`] : []),
    `logs kept in ${workDir}; its last lines:`,
    crash.log,
  ].join('\n');
}
