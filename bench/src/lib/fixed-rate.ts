// An open-loop load generator: requests sent on a fixed schedule, whatever the server's
// answers, with latency measured from when each request was due (no coordinated omission).
// It runs in a worker thread so that the benchmark process's own event loop (which also hosts
// the OTLP receiver) does not shift its timing.
import { Worker } from 'node:worker_threads';
import type { Pool } from 'undici';
import { summarize, type LatencySummary } from './stats.js';

/** One request of a run; `i` of the schedule decides it (e.g. a different order id each). */
export interface FixedRateRequest {
  method: 'GET' | 'POST';
  /** Path and query, e.g. `/api/orders/5000`. */
  path: string;
  /** A JSON body, sent with `content-type: application/json`. */
  body?: string;
}

export interface FixedRateRun {
  /** Requests per second; request i is due at start + i / rate. */
  rate: number;
  /** The schedule's length: round(rate × seconds) requests in all. */
  seconds: number;
  /** Request i (0-based) of the run. */
  request: (i: number) => FixedRateRequest;
}

export interface FixedRateOptions {
  /** The server's origin, loopback only: `http://127.0.0.1:PORT`. */
  origin: string;
  /** Requests in flight at most (each on its own keep-alive connection). Default 256. */
  maxInFlight?: number;
  /** A request not answered within this is an error. Default 5,000 ms. */
  timeoutMs?: number;
}

export interface FixedRateResult {
  /** Requests scheduled: round(rate × seconds). */
  scheduled: number;
  /** Requests sent (all of them, unless the run hit its time limit). */
  sent: number;
  /** 2xx answers read to their end. */
  completed: number;
  /** Non-2xx answers, socket errors, timeouts and requests never sent. */
  errors: number;
  /** Requests that found `maxInFlight` requests outstanding when due and waited for a slot. */
  late: number;
  /** The first error, to say what went wrong. */
  firstError?: string;
  /** From the time each completed request was due to the end of its answer. */
  latency: LatencySummary;
  /** From the first due time to the last answer. */
  elapsedMs: number;
}

/** What the worker is sent: the run with its requests already built. */
export interface ScheduleMessage {
  rate: number;
  requests: FixedRateRequest[];
}

const JSON_HEADERS = { 'content-type': 'application/json' };

/**
 * Sends `requests` to `pool` on the schedule (request i due at start + i / rate), at most
 * `maxInFlight` at a time, and resolves once every request was answered, failed or, past
 * the schedule plus `timeoutMs`, given up.
 */
export async function runSchedule(
  pool: Pool,
  message: ScheduleMessage,
  opts: { maxInFlight: number; timeoutMs: number },
): Promise<FixedRateResult> {
  const { rate, requests } = message;
  const interval = 1000 / rate;
  const latencies: number[] = [];
  const abort = new AbortController();
  const waiting: number[] = [];
  let next = 0;
  let inFlight = 0;
  let settled = 0;
  let sent = 0;
  let errors = 0;
  let late = 0;
  let lastEnd = 0;
  let firstError: string | undefined;
  const fail = (why: string): void => {
    errors += 1;
    firstError ??= why;
  };
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const start = performance.now() + 5; // the first request after this setup

  const send = (i: number): void => {
    const due = start + i * interval;
    const { method, path, body } = requests[i]!;
    inFlight += 1;
    sent += 1;
    pool
      .request({
        method,
        path,
        signal: abort.signal,
        ...(body === undefined ? {} : { body, headers: JSON_HEADERS }),
      })
      .then(async (response) => {
        await response.body.arrayBuffer();
        const end = performance.now();
        lastEnd = Math.max(lastEnd, end);
        if (response.statusCode >= 200 && response.statusCode < 300) latencies.push(end - due);
        else fail(`${method} ${path} answered ${response.statusCode}`);
      })
      .catch((error: unknown) =>
        fail(`${method} ${path}: ${error instanceof Error ? error.message : String(error)}`),
      )
      .finally(() => {
        inFlight -= 1;
        settled += 1;
        const queued = waiting.shift();
        if (queued !== undefined) send(queued);
        if (settled === requests.length) finish();
      });
  };

  let timer: NodeJS.Timeout | undefined;
  const pump = (): void => {
    const now = performance.now();
    while (next < requests.length && start + next * interval <= now) {
      if (inFlight < opts.maxInFlight) send(next);
      else {
        late += 1;
        waiting.push(next);
      }
      next += 1;
    }
    if (next < requests.length)
      timer = setTimeout(pump, Math.max(0, start + next * interval - performance.now()));
  };
  timer = setTimeout(pump, Math.max(0, start - performance.now()));

  // Bounded in time: past the schedule plus the timeout, what is left is given up.
  const limitMs = requests.length * interval + opts.timeoutMs;
  const limit = setTimeout(() => {
    clearTimeout(timer);
    const unsent = requests.length - next + waiting.length;
    for (let k = 0; k < unsent; k++) fail('not sent before the time limit');
    settled += unsent;
    waiting.length = 0;
    next = requests.length;
    abort.abort(new Error(`no answer within ${opts.timeoutMs} ms of the schedule's end`));
    if (settled === requests.length) finish();
  }, limitMs);
  if (requests.length === 0) finish();
  await finished;
  clearTimeout(limit);
  clearTimeout(timer);
  return {
    scheduled: requests.length,
    sent,
    completed: latencies.length,
    errors,
    late,
    ...(firstError === undefined ? {} : { firstError }),
    latency: summarize(latencies),
    elapsedMs: Math.max(0, lastEnd - start),
  };
}

/** A generator in its own worker thread, keeping its connections from one run to the next. */
export interface FixedRateGenerator {
  run(run: FixedRateRun): Promise<FixedRateResult>;
  close(): Promise<void>;
}

/** Starts the worker thread; resolves once it is ready to run a schedule. */
export async function startFixedRate(opts: FixedRateOptions): Promise<FixedRateGenerator> {
  if (!/^http:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?$/.test(opts.origin))
    throw new Error(`load tests target a loopback origin only, not ${opts.origin}`);
  const worker = new Worker(new URL('./fixed-rate-worker.js', import.meta.url), {
    // Nothing inherited (a test runner's or a loader's flags): the worker needs plain Node.
    execArgv: [],
    workerData: {
      origin: opts.origin,
      maxInFlight: opts.maxInFlight ?? 256,
      timeoutMs: opts.timeoutMs ?? 5_000,
    },
  });
  let failure: Error | undefined;
  let pending: { resolve: (r: FixedRateResult) => void; reject: (e: Error) => void } | undefined;
  const onFailure = (error: Error): void => {
    failure = error;
    pending?.reject(error);
    pending = undefined;
  };
  worker.on('error', onFailure);
  worker.on('exit', (code) => onFailure(new Error(`the load generator exited (${code})`)));
  await new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve());
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the load generator exited (${code})`)));
  });
  worker.on('message', (result: FixedRateResult) => {
    pending?.resolve(result);
    pending = undefined;
  });
  return {
    run({ rate, seconds, request }) {
      if (failure) return Promise.reject(failure);
      if (pending) return Promise.reject(new Error('one run at a time'));
      if (!(rate > 0) || !(seconds > 0))
        return Promise.reject(new RangeError('rate and seconds must be > 0'));
      const requests = Array.from({ length: Math.round(rate * seconds) }, (_, i) => request(i));
      return new Promise<FixedRateResult>((resolve, reject) => {
        pending = { resolve, reject };
        worker.postMessage({ rate, requests } satisfies ScheduleMessage);
      });
    },
    async close() {
      worker.removeAllListeners('exit');
      worker.postMessage('close');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => void worker.terminate().then(() => resolve()), 5_000);
        worker.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}
