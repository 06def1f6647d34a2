// The span exporter's thread. It receives batches of spans already written as OTLP/JSON bytes
// by the main thread (worker-span-processor.ts), wraps them in an ExportTraceServiceRequest
// and POSTs them (node:http, one keep-alive connection), one request at a time: HTTP, compression and retries of a slow endpoint
// stay off the application's thread.
//
// After every batch, delivered or not, the worker bumps a shared counter and notifies: the
// main thread's exit handler waits on it with Atomics.wait, so a process.exit() does not lose
// the last batch.
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { promisify } from 'node:util';
import { parentPort, workerData } from 'node:worker_threads';
import { gzip } from 'node:zlib';
import { requestBody, type AttributeRecord, type EncodedBatch } from './otlp-json.js';

export interface OtlpWorkerData {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly gzip: boolean;
  /** PEM of the CA, client certificate and key for an https endpoint (OTEL_EXPORTER_OTLP_*CERTIFICATE, *_CLIENT_KEY). */
  readonly tls: OtlpTls;
  /** Int32Array[0]: batches finished (delivered or failed). */
  readonly finished: SharedArrayBuffer;
}

/** TLS material for an https endpoint, as PEM text; absent fields use Node's defaults. */
export interface OtlpTls {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
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

// One keep-alive connection, reused by every export: node:http's client instead of fetch,
// whose per-request machinery (streams, a Request and a Response object, an AbortSignal timer)
// cost the export thread a few milliseconds of CPU per POST on the test machines, whatever the
// batch held (docs/benchmarks.md "otel").
// The https agent verifies the endpoint's certificate (Node's default), against the CA of
// OTEL_EXPORTER_OTLP_CERTIFICATE when one is given.
const agents = {
  'http:': new HttpAgent({ keepAlive: true, maxSockets: 1 }),
  'https:': new HttpsAgent({
    keepAlive: true,
    maxSockets: 1,
    ...(workerData as OtlpWorkerData | null)?.tls,
  }),
};

/** POSTs `body` and resolves with the status once the answer is read (or rejects). */
function post(
  url: URL,
  headers: Readonly<Record<string, string>>,
  body: Uint8Array,
  timeoutMs: number,
  retry = true,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const secure = url.protocol === 'https:';
    const request = (secure ? httpsRequest : httpRequest)(url, {
      method: 'POST',
      headers: { ...headers, 'content-length': String(body.length) },
      agent: agents[secure ? 'https:' : 'http:'],
    });
    const timer = setTimeout(
      () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    request.on('response', (response) => {
      // Read to the end so the connection goes back to the agent.
      response.resume();
      response.on('end', () => {
        clearTimeout(timer);
        resolve(response.statusCode ?? 0);
      });
      response.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
    request.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      // The endpoint closed the idle connection just as it was reused (Node's documented
      // race): the batch never reached it, so send it once more on a fresh connection.
      if (retry && request.reusedSocket && error.code === 'ECONNRESET')
        resolve(post(url, headers, body, timeoutMs, false));
      else reject(error);
    });
    request.end(body);
  });
}

async function send(data: OtlpWorkerData, message: WorkerBatch): Promise<ExportOutcome> {
  const spans = message.batch.spans;
  try {
    const json = requestBody(message.resource, message.batch);
    const status = await post(
      new URL(data.url),
      {
        ...data.headers,
        'content-type': 'application/json',
        ...(data.gzip ? { 'content-encoding': 'gzip' } : {}),
      },
      data.gzip ? await gzipAsync(json) : json,
      data.timeoutMs,
    );
    if (status >= 200 && status < 300) return { spans, ok: true };
    return { spans, ok: false, error: `the endpoint answered ${status}` };
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
