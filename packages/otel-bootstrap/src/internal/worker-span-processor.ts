// A span processor that exports from a worker thread. On the main thread an ended span is
// written as OTLP/JSON bytes into the current batch; every `scheduledDelayMs` (or at
// `maxExportBatchSize` spans, or MAX_BATCH_BYTES) the batch's bytes are transferred to the
// worker (otlp-worker.ts), which wraps them in the request body and POSTs it.
// The queue (buffered plus posted-but-unfinished spans) is bounded by `maxQueueSize`; what
// does not fit is dropped and counted, like the SDK's BatchSpanProcessor.
import { Worker } from 'node:worker_threads';
import type { SpanSink } from './lean-span.js';
import { OtlpBatchEncoder, type SpanRecord } from './otlp-json.js';
import type { ExportOutcome, OtlpTls, OtlpWorkerData, WorkerBatch } from './otlp-worker.js';
import type { SelfMetrics } from './metrics.js';
import { redactText } from './redact.js';
import { warn, warnOnce } from './warn.js';

export interface WorkerSpanProcessorOptions {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly maxQueueSize: number;
  readonly maxExportBatchSize: number;
  readonly scheduledDelayMs: number;
  readonly exportTimeoutMs: number;
  readonly gzip: boolean;
  readonly tls: OtlpTls;
  /** Longest the exit handler blocks for the batches still in flight. */
  readonly exitWaitMs: number;
  readonly metrics: SelfMetrics;
  /** The resource's attributes, read once at the first batch (async detectors have settled by then, or are left out). */
  readonly resource: () => Record<string, unknown>;
}

/** A batch is sent once its spans' JSON reaches this size, whatever the span count. */
const MAX_BATCH_BYTES = 4 * 1024 * 1024;

export class WorkerSpanProcessor implements SpanSink {
  readonly #options: WorkerSpanProcessorOptions;
  readonly #worker: Worker;
  readonly #finished: Int32Array;
  readonly #shownUrl: string;
  readonly #batch = new OtlpBatchEncoder();
  #resource: Record<string, unknown> | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** Spans posted to the worker whose outcome has not come back. */
  #inFlight = 0;
  /** Batches posted to the worker (compared with the worker's finished counter). */
  #posted = 0;
  #failing = false;
  #dead = false;
  #shutdown: Promise<void> | undefined;
  readonly #idleWaiters: (() => void)[] = [];

  constructor(options: WorkerSpanProcessorOptions) {
    this.#options = options;
    this.#shownUrl = redactText(options.url);
    const finished = new SharedArrayBuffer(4);
    this.#finished = new Int32Array(finished);
    const workerData: OtlpWorkerData = {
      url: options.url,
      headers: { ...options.headers },
      timeoutMs: options.exportTimeoutMs,
      gzip: options.gzip,
      tls: options.tls,
      finished,
    };
    this.#worker = new Worker(new URL('./otlp-worker.js', import.meta.url), {
      workerData,
      // The worker needs none of the host's flags; inheriting `--import`/`--require` of this
      // package would start telemetry again inside it.
      execArgv: [],
      env: {},
    });
    this.#worker.on('message', (outcome: ExportOutcome) => this.#onOutcome(outcome));
    this.#worker.on('error', (err) => {
      this.#dead = true;
      warnOnce(
        'MESKIT_OTEL_EXPORT_FAILED',
        `the span export thread failed: ${err.message}. Spans are no longer exported (meskit_otel_spans_dropped_total{reason="export_failed"}); the application is not affected`,
        'worker',
      );
    });
    this.#worker.on('exit', () => {
      this.#dead = true;
      if (this.#inFlight > 0) {
        options.metrics.spansDropped.inc({ reason: 'export_failed' }, this.#inFlight);
        this.#inFlight = 0;
      }
      this.#wakeIdleWaiters();
    });
    // After the listeners: adding a 'message' listener refs the worker's port again.
    this.#worker.unref();
    process.on('exit', this.#onExit);
  }

  /** Queues the record of an ended, sampled span (lean-tracer.ts). */
  append(record: SpanRecord): void {
    if (this.#dead || this.#shutdown !== undefined) {
      this.#options.metrics.spansDropped.inc({ reason: 'export_failed' });
      return;
    }
    if (this.#batch.spans + this.#inFlight >= this.#options.maxQueueSize) {
      this.#options.metrics.spansDropped.inc({ reason: 'queue_full' });
      warnOnce(
        'MESKIT_OTEL_SPANS_DROPPED',
        `the span export queue is full (${this.#options.maxQueueSize} spans): spans are being dropped (meskit_otel_spans_dropped_total{reason="queue_full"}). The endpoint is too slow or down; raise OTEL_BSP_MAX_QUEUE_SIZE or sample less (OTEL_TRACES_SAMPLER)`,
      );
      return;
    }
    this.#batch.add(record);
    if (
      this.#batch.spans >= this.#options.maxExportBatchSize ||
      this.#batch.bytes >= MAX_BATCH_BYTES
    ) {
      this.#post();
    } else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.#post(), this.#options.scheduledDelayMs);
      this.#timer.unref();
    }
  }

  forceFlush(): Promise<void> {
    this.#post();
    return this.#idle();
  }

  shutdown(): Promise<void> {
    this.#shutdown ??= (async () => {
      await this.forceFlush();
      process.removeListener('exit', this.#onExit);
      await this.#worker.terminate();
    })();
    return this.#shutdown;
  }

  #post(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#dead) return;
    const batch = this.#batch.take();
    if (batch === undefined) return;
    this.#inFlight += batch.spans;
    this.#posted++;
    this.#resource ??= this.#options.resource();
    const message: WorkerBatch = { resource: this.#resource, batch };
    this.#worker.postMessage(
      message,
      batch.scopes.map((scope) => scope.spansJson.buffer as ArrayBuffer),
    );
  }

  #onOutcome(outcome: ExportOutcome): void {
    this.#inFlight -= outcome.spans;
    const metrics = this.#options.metrics;
    if (outcome.ok) {
      metrics.spansExported.inc(outcome.spans);
      this.#failing = false;
    } else {
      metrics.spansDropped.inc({ reason: 'export_failed' }, outcome.spans);
      if (!this.#failing) {
        this.#failing = true;
        warn(
          'MESKIT_OTEL_EXPORT_FAILED',
          `cannot export spans to ${this.#shownUrl}: ${redactText(outcome.error ?? 'unknown error')}. Spans are dropped (meskit_otel_spans_dropped_total{reason="export_failed"}) until the endpoint takes them again; the application is not affected. Check OTEL_EXPORTER_OTLP_ENDPOINT`,
        );
      }
    }
    if (this.#inFlight === 0) this.#wakeIdleWaiters();
  }

  /** Resolves once nothing is in flight; the worker is referenced meanwhile, so the process waits. */
  #idle(): Promise<void> {
    if (this.#inFlight === 0 || this.#dead) return Promise.resolve();
    this.#worker.ref();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #wakeIdleWaiters(): void {
    if (this.#idleWaiters.length === 0) return;
    if (!this.#dead) this.#worker.unref();
    for (const wake of this.#idleWaiters.splice(0)) wake();
  }

  // An application that ends with process.exit() gives no async flush a chance: post what is
  // buffered and block (bounded) until the worker has finished the batches in flight. The
  // worker runs its own event loop, so it makes progress while this thread waits.
  readonly #onExit = (): void => {
    if (this.#dead) return;
    this.#post();
    const deadline = Date.now() + this.#options.exitWaitMs;
    for (;;) {
      const finished = Atomics.load(this.#finished, 0);
      const left = deadline - Date.now();
      if (finished >= this.#posted || left <= 0) return;
      Atomics.wait(this.#finished, 0, finished, left);
    }
  };
}
