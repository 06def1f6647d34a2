// Worker side of the pricing pool: run one job at a time (analyse and price, or the
// offloaded function), answer by message.
import { parentPort, workerData } from 'node:worker_threads';
import { analyzeMesh } from '../analyze.js';
import { priceMesh } from '../price-model.js';
import {
  serializeError,
  type JobRequest,
  type JobResponse,
  type WorkerConfig,
  type WorkerReady,
} from './pool-protocol.js';

type OffloadFn = (bytes: Uint8Array, options: Record<string, unknown>) => unknown;

const config = workerData as WorkerConfig;

/** An Error whose message is `message` and whose stack is the original's, for `serializeError`. */
function offloadError(message: string, cause?: unknown): Error {
  return new Error(message, { cause });
}

let offloadFn: Promise<OffloadFn> | undefined;

/** Imports the offload module once per worker; a failure fails every job with the reason. */
function loadOffload(offload: NonNullable<WorkerConfig['offload']>): Promise<OffloadFn> {
  offloadFn ??= import(offload.url).then(
    (module: Record<string, unknown>) => {
      const fn = module[offload.exportName];
      if (typeof fn !== 'function') {
        const names = Object.keys(module).join(', ') || 'none';
        throw offloadError(
          `offload module ${offload.url} has no function export "${offload.exportName}" (its exports: ${names}); set offload.export to one of them`,
        );
      }
      return fn as OffloadFn;
    },
    (error: unknown) => {
      throw offloadError(
        `cannot load offload module ${offload.url}: ${error instanceof Error ? error.message : String(error)}`,
        error,
      );
    },
  );
  return offloadFn;
}

async function runOffload(
  offload: NonNullable<WorkerConfig['offload']>,
  job: JobRequest,
): Promise<JobResponse> {
  let fn: OffloadFn;
  try {
    fn = await loadOffload(offload);
  } catch (error) {
    return { id: job.id, ok: false, error: serializeError(error, 'Offload') };
  }
  let value: unknown;
  try {
    const options =
      job.alloy === undefined ? { ...offload.options } : { ...offload.options, alloy: job.alloy };
    value = await fn(job.bytes, options);
  } catch (error) {
    return { id: job.id, ok: false, error: serializeError(error, 'Offload') };
  }
  // Normalised through JSON here, so a fresh result and a cached one are the same value.
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return {
      id: job.id,
      ok: false,
      error: serializeError(
        offloadError(
          `offload function ${offload.exportName} returned a value JSON cannot hold: ${reason}`,
        ),
        'Offload',
      ),
    };
  }
  if (json === undefined)
    return {
      id: job.id,
      ok: false,
      error: serializeError(
        offloadError(
          `offload function ${offload.exportName} returned ${typeof value}; return a JSON-serialisable value`,
        ),
        'Offload',
      ),
    };
  return { id: job.id, ok: true, value: JSON.parse(json) as unknown };
}

function runModel(job: JobRequest): JobResponse {
  try {
    const analysis = analyzeMesh(job.bytes, config.analyze);
    // Like `meskit price`: a volume that cannot be trusted is not priced.
    const price = analysis.confidence.volumeTrusted
      ? priceMesh(analysis, { model: config.model, alloy: job.alloy ?? config.model.defaultAlloy })
      : null;
    return { id: job.id, ok: true, value: { analysis, price } };
  } catch (error) {
    return { id: job.id, ok: false, error: serializeError(error) };
  }
}

const port = parentPort;
if (!port) throw new Error('pool-worker must run in a worker thread');
port.on('message', (job: JobRequest) => {
  // Blocks the thread like a long analysis would, so the pool has to terminate it.
  if (job.delayMs > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, job.delayMs);
  if (config.offload) {
    void runOffload(config.offload, job).then((response) => port.postMessage(response));
  } else {
    port.postMessage(runModel(job));
  }
});
const ready: WorkerReady = { ready: true };
port.postMessage(ready);
