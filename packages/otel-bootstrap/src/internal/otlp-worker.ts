// The span exporter's thread. It receives batches of spans already written as OTLP/JSON bytes
// by the main thread (worker-span-processor.ts), wraps them in an ExportTraceServiceRequest
// and POSTs them, one request at a time: HTTP, compression and retries of a slow endpoint
// stay off the application's thread.
//
// After every batch, delivered or not, the worker bumps a shared counter and notifies: the
// main thread's exit handler waits on it with Atomics.wait, so a process.exit() does not lose
// the last batch.
import { promisify } from 'node:util';
import { parentPort, workerData } from 'node:worker_threads';
import { gzip } from 'node:zlib';
import { requestBody, type AttributeRecord, type EncodedBatch } from './otlp-json.js';

export interface OtlpWorkerData {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly gzip: boolean;
  /** Int32Array[0]: batches finished (delivered or failed). */
  readonly finished: SharedArrayBuffer;
}

/** What the main thread posts: one batch (its byte buffers transferred). */
export interface WorkerBatch {
  readonly resource: AttributeRecord;
  readonly batch: EncodedBatch;
}

export interface ExportOutcome {
  readonly spans: number;
  readonly ok: boolean;
  readonly error?: string;
}

const gzipAsync = promisify(gzip);

async function send(data: OtlpWorkerData, message: WorkerBatch): Promise<ExportOutcome> {
  const spans = message.batch.spans;
  try {
    const json = requestBody(message.resource, message.batch);
    const response = await fetch(data.url, {
      method: 'POST',
      headers: {
        ...data.headers,
        'content-type': 'application/json',
        ...(data.gzip ? { 'content-encoding': 'gzip' } : {}),
      },
      body: data.gzip ? await gzipAsync(json) : json,
      signal: AbortSignal.timeout(data.timeoutMs),
    });
    // The body is read so the connection goes back to the pool.
    await response.arrayBuffer();
    if (response.ok) return { spans, ok: true };
    return {
      spans,
      ok: false,
      error: `the endpoint answered ${response.status}`,
    };
  } catch (err) {
    const cause = (err as { cause?: unknown }).cause;
    const why =
      cause instanceof Error ? cause.message : err instanceof Error ? err.message : String(err);
    return { spans, ok: false, error: why };
  }
}

function run(): void {
  const port = parentPort;
  if (port === null) return;
  const data = workerData as OtlpWorkerData;
  const finished = new Int32Array(data.finished);
  // One request at a time, in order: a slow endpoint backs the queue up on the main thread,
  // where it is bounded and counted, instead of piling up sockets here.
  let chain = Promise.resolve();
  port.on('message', (batch: WorkerBatch) => {
    chain = chain.then(async () => {
      const outcome = await send(data, batch);
      Atomics.add(finished, 0, 1);
      Atomics.notify(finished, 0);
      port.postMessage(outcome);
    });
  });
}

run();
