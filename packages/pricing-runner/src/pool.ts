import type { Worker } from 'node:worker_threads';
import type { AnalyzeOptions, MeshAnalysis } from './analyze.js';
import { PricingPoolError } from './errors.js';
import {
  checkRequest,
  resolvePoolOptions,
  type ResolvedPoolOptions,
} from './internal/pool-options.js';
import {
  reviveError,
  TEST_DELAY_MS,
  type JobRequest,
  type JobResponse,
  type WorkerReady,
  type WorkerConfig,
} from './internal/pool-protocol.js';
import { startWorker, takeBytes } from './internal/pool-threads.js';
import type { PriceModel, PriceQuote } from './price-model.js';

export { POOL_DEFAULTS } from './internal/pool-options.js';

/**
 * Offload mode: the workers run this function instead of analysing and pricing, e.g. an
 * MES's own (slow, synchronous) pricing, so it stops blocking the MES's event loop.
 * The function is called as `fn(bytes, options)` and returns, or resolves to, a
 * JSON-serialisable value. It is JSON-normalised in the worker (a `Date` becomes a string),
 * so a fresh result and a cached one are the same value.
 */
export interface OffloadOptions {
  /**
   * The ESM module every worker imports: a `file:` URL, or a file path (a relative path
   * resolves against `process.cwd()`). Checked to exist at construction. Required.
   */
  module: URL | string;
  /** Name of the exported function. Default: `'default'`. */
  export?: string;
  /**
   * The second argument of every call, with `alloy` added when a submit (or quote) names
   * one. Plain JSON data; part of the cache key. Default: `{}`.
   */
  options?: Record<string, unknown>;
  /**
   * Bump it whenever the function's results change (new code, new prices): it is part of
   * the cache key, so results of the old version are not served. Default: `'1'`.
   */
  version?: string;
}

/** Options of `createPricingPool`. */
export interface PricingPoolOptions {
  /** Worker threads. Default: `os.availableParallelism() - 1`, at least 1. */
  threads?: number;
  /** Jobs that may wait for a free worker; past it `submit` rejects with `QUEUE_FULL`. Default: 64. */
  maxQueue?: number;
  /** Time a job may run in its worker before it is terminated (`TIMEOUT`). Default: 30 000 ms. */
  timeoutMs?: number;
  /**
   * `analyzeMesh` options the workers use (limits, forced format, topology), checked at
   * construction. `maxBytes` is also enforced at `submit`, before any bytes move. With
   * `offload` only `maxBytes` may be set. Default: `analyzeMesh`'s `DEFAULTS`.
   */
  analyze?: AnalyzeOptions;
  /**
   * The price model the workers price with; checked with `validatePriceModel` at
   * construction (a bad one throws `InvalidOptionError` naming the field, e.g.
   * `priceModel.defaultAlloy`, with the `PriceModelError` as its cause). Not allowed with
   * `offload`. Default: `DEFAULT_PRICE_MODEL`.
   */
  priceModel?: PriceModel;
  /** Run this function in the workers instead of analyse + price. Default: none. */
  offload?: OffloadOptions;
}

/** Options of one `submit`. */
export interface SubmitOptions {
  /**
   * Alloy to price in; refused up front (`PriceModelError`, field `alloy`) when the price
   * model does not have it. In offload mode it is passed to the function as `options.alloy`.
   * Default: the price model's `defaultAlloy`.
   */
  alloy?: string;
  /** Aborting it cancels the job (`CANCELLED`). Default: none. */
  signal?: AbortSignal;
  /** Internal test hook (see `internal/pool-protocol.ts`); not part of the public API. */
  [TEST_DELAY_MS]?: number;
}

/** What a worker computed: the analysis, and the quote or `null` when the volume is not trusted. */
export interface PricingResult {
  analysis: MeshAnalysis;
  /** `null` when `analysis.confidence.volumeTrusted` is false (as `meskit price` does). */
  price: PriceQuote | null;
}

export interface PricingPoolStats {
  threads: number;
  /** Workers running a job now. */
  busy: number;
  /** Jobs waiting for a worker. */
  queued: number;
  /** The bound of that queue (`maxQueue`): `queued === maxQueue` refuses new jobs. */
  maxQueue: number;
  /** Jobs that resolved. */
  completed: number;
  /** Accepted jobs that rejected (mesh errors, timeouts, cancellations, closed). */
  failed: number;
  /** Jobs refused with QUEUE_FULL: the bounded queue says what it turned away. */
  rejectedQueueFull: number;
}

/**
 * A pool of workers. `R` is what a job resolves to: `PricingResult`, or in offload mode the
 * offloaded function's result (its type is the caller's claim, as with `JSON.parse`).
 */
export interface PricingPool<R = PricingResult> {
  /**
   * Analyses and prices `bytes` in a worker (or runs the offloaded function on them). The
   * bytes are transferred, not copied, when they own their whole `ArrayBuffer`: the caller's
   * buffer is then detached (length 0) as soon as `submit` is called. A view on part of a
   * larger buffer (such as a small pooled `Buffer`) or on a `SharedArrayBuffer` is copied
   * instead, and the caller's buffer is left intact.
   */
  submit(bytes: Uint8Array, opts?: SubmitOptions): Promise<R>;
  stats(): PricingPoolStats;
  /** Stops accepting jobs, rejects queued ones (`CLOSED`), lets running ones finish, ends the workers. */
  close(): Promise<void>;
}

interface Job {
  id: number;
  bytes: Uint8Array;
  alloy: string | undefined;
  delayMs: number;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  resolve: (result: unknown) => void;
  reject: (error: Error) => void;
}

interface Slot {
  worker: Worker;
  /**
   * The worker said it is ready (WorkerReady). A job is posted at once either way, but its
   * timeout starts only then: a fresh worker's start-up is not the model's time.
   */
  ready: boolean;
  job: Job | undefined;
  timer: NodeJS.Timeout | undefined;
}

/**
 * A pool of worker threads that analyse and price models off the main thread, or (with
 * `offload`) run a pricing function of your own there. Throws the kernel's
 * `InvalidOptionError` (`INVALID_OPTION`, naming the option) at construction on a bad option.
 */
export function createPricingPool<R = unknown>(
  opts: PricingPoolOptions & { offload: OffloadOptions },
): PricingPool<R>;
export function createPricingPool(
  opts?: PricingPoolOptions & { offload?: undefined },
): PricingPool<PricingResult>;
export function createPricingPool(opts: PricingPoolOptions = {}): PricingPool<unknown> {
  return startPool(resolvePoolOptions(opts, 'createPricingPool'));
}

/**
 * The pool of options already resolved (the runner checks them as its own). Not exported from
 * the package.
 */
export function startPool(config: ResolvedPoolOptions): PricingPool<unknown> {
  const { threads, maxQueue, timeoutMs } = config;
  const workerData: WorkerConfig = {
    analyze: config.analyze,
    model: config.model,
    offload: config.offload && {
      url: config.offload.url,
      exportName: config.offload.exportName,
      options: config.offload.options,
    },
  };

  const slots: Slot[] = [];
  const queue: Job[] = [];
  let nextId = 1;
  let completed = 0;
  let failed = 0;
  let rejectedQueueFull = 0;
  let closing: Promise<void> | undefined;
  let drained: (() => void) | undefined;

  function spawn(): Slot {
    const slot: Slot = {
      worker: startWorker(workerData),
      ready: false,
      job: undefined,
      timer: undefined,
    };
    slot.worker.on('message', (response: JobResponse | WorkerReady) => {
      if ('ready' in response) {
        slot.ready = true;
        if (slot.job) armTimeout(slot);
        return;
      }
      const job = slot.job;
      if (!job || job.id !== response.id) return;
      if (response.ok) finish(slot, undefined, response.value);
      else finish(slot, reviveError(response.error));
    });
    slot.worker.on('error', (error) => {
      replace(
        slot,
        new PricingPoolError('WORKER_FAILED', `pricing worker crashed: ${error.message}`, {
          cause: error,
        }),
      );
    });
    slot.worker.on('exit', (exitCode) => {
      if (slots.includes(slot))
        replace(
          slot,
          new PricingPoolError('WORKER_FAILED', `pricing worker exited with code ${exitCode}`),
        );
    });
    // After the listeners: adding a 'message' listener refs the worker's port again.
    slot.worker.unref(); // an idle worker never keeps the process alive
    return slot;
  }

  function settle(job: Job): void {
    if (job.signal && job.onAbort) job.signal.removeEventListener('abort', job.onAbort);
  }

  /** Ends the slot's job (result or error) and hands the worker the next one. */
  function finish(slot: Slot, error: Error | undefined, result?: unknown): void {
    const job = slot.job;
    if (!job) return;
    clearTimeout(slot.timer);
    slot.timer = undefined;
    slot.job = undefined;
    slot.worker.unref();
    settle(job);
    if (error) {
      failed++;
      job.reject(error);
    } else {
      completed++;
      job.resolve(result);
    }
    pump();
  }

  /** Terminates the slot's worker (stuck, cancelled or crashed), fails its job, starts a fresh one. */
  function replace(slot: Slot, error: Error): void {
    const index = slots.indexOf(slot);
    if (index === -1) return;
    slots.splice(index, 1);
    void slot.worker.terminate();
    if (!closing) slots.push(spawn());
    finish(slot, error);
  }

  function armTimeout(slot: Slot): void {
    slot.timer = setTimeout(() => {
      replace(
        slot,
        new PricingPoolError(
          'TIMEOUT',
          `pricing job timed out after ${timeoutMs} ms; raise timeoutMs or reject models this large`,
        ),
      );
    }, timeoutMs);
    slot.timer.unref();
  }

  function start(slot: Slot, job: Job): void {
    slot.job = job;
    slot.worker.ref(); // a running job keeps the process alive until it settles
    if (slot.ready) armTimeout(slot);
    const request: JobRequest = {
      id: job.id,
      bytes: job.bytes,
      alloy: job.alloy,
      delayMs: job.delayMs,
    };
    slot.worker.postMessage(request, [job.bytes.buffer as ArrayBuffer]);
  }

  function pump(): void {
    for (const slot of slots) {
      if (slot.job) continue;
      const job = queue.shift();
      if (!job) break;
      start(slot, job);
    }
    if (closing && drained && queue.length === 0 && slots.every((slot) => !slot.job)) drained();
  }

  /** Requests a worker would refuse anyway, turned away before the bytes move or queue. */
  function refuse(bytes: Uint8Array, alloy: string | undefined): Error | undefined {
    return checkRequest(config, bytes, alloy);
  }

  for (let i = 0; i < threads; i++) slots.push(spawn());

  function submit(bytes: Uint8Array, submitOpts: SubmitOptions = {}): Promise<unknown> {
    if (!(bytes instanceof Uint8Array))
      return Promise.reject(
        new TypeError('submit: bytes must be a Uint8Array (or Buffer) holding the model file'),
      );
    if (closing)
      return Promise.reject(
        new PricingPoolError('CLOSED', 'pricing pool is closed; create a new one'),
      );
    const signal = submitOpts.signal;
    if (signal?.aborted)
      return Promise.reject(
        new PricingPoolError('CANCELLED', 'pricing job cancelled before it started', {
          cause: signal.reason,
        }),
      );
    const refused = refuse(bytes, submitOpts.alloy);
    if (refused) return Promise.reject(refused);
    const idle = slots.some((slot) => !slot.job);
    if (!idle && queue.length >= maxQueue) {
      rejectedQueueFull++;
      return Promise.reject(
        new PricingPoolError(
          'QUEUE_FULL',
          `pricing queue is full (${maxQueue} waiting); retry later or add threads`,
        ),
      );
    }
    return new Promise<unknown>((resolve, reject) => {
      const job: Job = {
        id: nextId++,
        bytes: takeBytes(bytes),
        alloy: submitOpts.alloy,
        delayMs: submitOpts[TEST_DELAY_MS] ?? 0,
        signal,
        onAbort: undefined,
        resolve,
        reject,
      };
      if (signal) {
        job.onAbort = () => {
          const error = new PricingPoolError('CANCELLED', 'pricing job cancelled', {
            cause: signal.reason,
          });
          const queued = queue.indexOf(job);
          if (queued !== -1) {
            queue.splice(queued, 1);
            settle(job);
            failed++;
            reject(error);
            return;
          }
          const slot = slots.find((s) => s.job === job);
          if (slot) replace(slot, error);
        };
        signal.addEventListener('abort', job.onAbort, { once: true });
      }
      queue.push(job);
      pump();
    });
  }

  function close(): Promise<void> {
    closing ??= (async () => {
      for (const job of queue.splice(0)) {
        settle(job);
        failed++;
        job.reject(new PricingPoolError('CLOSED', 'pricing pool closed before the job ran'));
      }
      if (slots.some((slot) => slot.job)) await new Promise<void>((resolve) => (drained = resolve));
      const workers = slots.splice(0).map((slot) => slot.worker);
      await Promise.all(workers.map((worker) => worker.terminate()));
    })();
    return closing;
  }

  function stats(): PricingPoolStats {
    return {
      threads,
      busy: slots.filter((slot) => slot.job).length,
      queued: queue.length,
      maxQueue,
      completed,
      failed,
      rejectedQueueFull,
    };
  }

  return { submit, stats, close };
}
