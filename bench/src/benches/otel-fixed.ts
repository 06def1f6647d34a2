// One fixed-rate measurement of the otel benchmark: a fresh MES process in one variant, warmed
// up and then loaded at a fixed rate, its CPU time read from /proc around the measured window.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import type { OtlpReceiver } from '@meskit/otel-bootstrap/testing';
import {
  startFixedRate,
  type FixedRateGenerator,
  type FixedRateResult,
} from '../lib/fixed-rate.js';
import { mesMainPath, spawnMes, type MesProcess } from '../lib/mes-process.js';
import { commandLine, cpuBetween, sampleCpu, type CpuSpent } from '../lib/proc-cpu.js';
import { runWrk } from '../lib/wrk.js';
import {
  GET_PATH,
  requestFor,
  resetTakeOrders,
  settle,
  takeScript,
  TAKE_FIRST_ID,
  traced,
  variantLaunch,
  type RequestKind,
  type Variant,
} from './otel-setup.js';

/** What every measurement of a run shares. */
export interface OtelRun {
  receiver: OtlpReceiver;
  /** The bare MES's environment (database, broker, model folder, log level). */
  mesEnv: Record<string, string>;
  /** Where the MES writes its logs (a file, as in production, not a pipe drained here). */
  stderrFile: string;
  /** A folder for wrk's scripts. */
  workDir: string;
  /** An open connection to the MES's database, to reset the take's orders. */
  db: pg.Client;
  operatorId: number;
  log: (line: string) => void;
}

/** One (request, variant) in one round. */
export interface FixedMeasurement {
  rate: number;
  /** CPU time of the MES process (all its threads) per completed request, in µs. */
  cpuUs: number;
  cpuSource: CpuSpent['source'];
  p50Ms: number;
  p99Ms: number;
  /** Spans per request: all the process's spans over all its requests (probe and warm-up included). */
  spansPerRequest: number;
  /** Requests completed (2xx) in the measured window. */
  requests: number;
  errors: number;
}

async function spawnVariant(run: OtelRun, variant: Variant): Promise<MesProcess> {
  const launch = variantLaunch(variant, run.receiver.url);
  const mes = await spawnMes({
    env: { ...run.mesEnv, ...launch.env },
    execArgv: launch.execArgv,
    stderrFile: run.stderrFile,
  });
  // The pid whose CPU is read must be node running the MES itself, not a wrapper.
  const argv = commandLine(mes.child.pid!);
  if (!argv.includes(mesMainPath()) || !/node/.test(argv[0] ?? '')) {
    await mes.stop();
    throw new Error(`pid ${mes.child.pid} is not the MES's node process: ${argv.join(' ')}`);
  }
  return mes;
}

/** The MES answers the request's read; for the take, the first order is ready to take. */
async function probe(url: string, kind: RequestKind): Promise<void> {
  const path = kind === 'take' ? `/api/orders/${TAKE_FIRST_ID}` : GET_PATH;
  const response = await fetch(`${url}${path}`);
  const body = (await response.json()) as { status?: string };
  if (!response.ok) throw new Error(`GET ${path} answered ${response.status}`);
  if (kind === 'take' && body.status !== 'MANUFACTURING_APPROVED')
    throw new Error(`order ${TAKE_FIRST_ID} is ${body.status}, not reset for the take`);
}

/**
 * Failed requests void a run; so do late ones in the measured window (the server did not keep
 * up with the rate), not in the warm-up, where a freshly started process may fall behind.
 */
function checkRun(result: FixedRateResult, what: string, lateAllowed = false): void {
  if (result.errors > 0 || (!lateAllowed && result.late > 0))
    throw new Error(
      `${what}: ${result.errors} failed and ${result.late} late of ${result.scheduled} requests (${result.firstError ?? 'no error message'}); a failed measurement is not a result`,
    );
}

/**
 * The bare MES's saturated capacity for one request (req/s): wrk, `connections` connections,
 * a 1 s warm-up and then `seconds`. The take runs from a wrk script, each request on the next
 * order; the measured run starts well past the orders the warm-up reached (its last requests
 * may still commit after wrk has stopped).
 */
export async function measureCapacity(
  run: OtelRun,
  kind: RequestKind,
  opts: { seconds: number; connections: number },
): Promise<number> {
  if (kind === 'take') await resetTakeOrders(run.db);
  const mes = await spawnVariant(run, 'bare');
  try {
    await probe(mes.url, kind);
    const wrk = (seconds: number, firstId: number) => {
      if (kind === 'get-one-order')
        return runWrk(`${mes.url}${GET_PATH}`, { seconds, connections: opts.connections });
      const script = join(run.workDir, `take-${firstId}.lua`);
      writeFileSync(script, takeScript(run.operatorId, firstId));
      return runWrk(mes.url, { seconds, connections: opts.connections, threads: 1, script });
    };
    const warm = await wrk(1, TAKE_FIRST_ID);
    const result = await wrk(opts.seconds, TAKE_FIRST_ID + warm.requests + 10 * opts.connections);
    if (warm.errors + result.errors > 0)
      throw new Error(
        `capacity of ${kind}: ${warm.errors + result.errors} failed requests under wrk`,
      );
    return result.requestsPerSecond;
  } finally {
    await mes.stop();
  }
}

/**
 * A fresh MES in `variant`: probed, `warmup` s at `rate`, then `seconds` at `rate` with the
 * MES's CPU time read at the window's start and end. Spans per request: every span the
 * receiver got from this process (the last ones awaited), over every request it served. The
 * CPU window holds whatever exports fall in it, as a production window does: with the
 * default 5 s schedule delay, one or two. Throws on any failed or late request.
 */
export async function measureFixed(
  run: OtelRun,
  kind: RequestKind,
  variant: Variant,
  opts: { rate: number; seconds: number; warmup: number },
): Promise<FixedMeasurement> {
  if (kind === 'take') await resetTakeOrders(run.db);
  // The last measurement's spans have all arrived (settled before its MES stopped).
  run.receiver.clear();
  const mes = await spawnVariant(run, variant);
  let generator: FixedRateGenerator | undefined;
  try {
    const pid = mes.child.pid!;
    await probe(mes.url, kind);
    generator = await startFixedRate({ origin: mes.url });
    const request = requestFor(kind, run.operatorId);
    const warm = await generator.run({ rate: opts.rate, seconds: opts.warmup, request });
    checkRun(warm, `${kind} ${variant} warm-up`, true);
    if (warm.late > 0) run.log(`${kind} ${variant}: ${warm.late} late requests in the warm-up`);
    const before = sampleCpu(pid);
    const result = await generator.run({
      rate: opts.rate,
      seconds: opts.seconds,
      // The take goes on with fresh orders.
      request: (i) => request(warm.scheduled + i),
    });
    const cpu = cpuBetween(before, sampleCpu(pid));
    if (traced(variant)) await settle(run.receiver);
    checkRun(result, `${kind} ${variant}`);
    if (run.receiver.rejected > 0)
      throw new Error(`${kind} ${variant}: the receiver refused ${run.receiver.rejected} exports`);
    return {
      rate: opts.rate,
      cpuUs: cpu.ns / 1000 / result.completed,
      cpuSource: cpu.source,
      p50Ms: result.latency.p50Ms,
      p99Ms: result.latency.p99Ms,
      // The probe is one request more (a read, for the take too): off by under 1 in 1,000.
      spansPerRequest: run.receiver.spanCount / (1 + warm.completed + result.completed),
      requests: result.completed,
      errors: result.errors,
    };
  } finally {
    await generator?.close();
    await mes.stop();
  }
}
