// Worker side of the pricing pool: analyse and price one job at a time, answer by message.
import { parentPort } from 'node:worker_threads';
import { analyzeMesh } from '../analyze.js';
import { MeshError, PriceModelError } from '../errors.js';
import { priceMesh } from '../price-model.js';
import type { JobRequest, JobResponse, SerializedError } from './pool-protocol.js';

function serialize(error: unknown): SerializedError {
  if (error instanceof MeshError)
    return {
      kind: 'MeshError',
      code: error.code,
      field: undefined,
      message: error.message,
      stack: error.stack,
    };
  if (error instanceof PriceModelError)
    return {
      kind: 'PriceModelError',
      code: error.code,
      field: error.field,
      message: error.message,
      stack: error.stack,
    };
  const e = error instanceof Error ? error : new Error(String(error));
  return { kind: 'Error', code: undefined, field: undefined, message: e.message, stack: e.stack };
}

function run(job: JobRequest): JobResponse {
  // Blocks the thread like a long analysis would, so the pool has to terminate it.
  if (job.delayMs > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, job.delayMs);
  try {
    const analysis = analyzeMesh(job.bytes);
    // Like `meskit price`: a volume that cannot be trusted is not priced.
    const price = analysis.confidence.volumeTrusted
      ? priceMesh(analysis, job.alloy === undefined ? {} : { alloy: job.alloy })
      : null;
    return { id: job.id, ok: true, analysis, price };
  } catch (error) {
    return { id: job.id, ok: false, error: serialize(error) };
  }
}

const port = parentPort;
if (!port) throw new Error('pool-worker must run in a worker thread');
port.on('message', (job: JobRequest) => {
  port.postMessage(run(job));
});
