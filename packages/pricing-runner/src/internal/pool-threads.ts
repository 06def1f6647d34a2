// Starting the pool's worker threads and handing them a model's bytes.
import { Worker } from 'node:worker_threads';
import type { WorkerConfig } from './pool-protocol.js';

const WORKER_URL = new URL('./pool-worker.js', import.meta.url);

/**
 * Workers inherit the parent's flags, but `--input-type` (set when the host runs from
 * `node --input-type=module -e`) makes a worker started from a file refuse to start.
 */
function workerExecArgv(): string[] {
  return process.execArgv.filter((arg) => !arg.startsWith('--input-type'));
}

export function startWorker(workerData: WorkerConfig): Worker {
  return new Worker(WORKER_URL, { execArgv: workerExecArgv(), workerData });
}

/** Zero-copy when the view owns its whole buffer; otherwise (or if untransferable) a copy. */
export function takeBytes(bytes: Uint8Array): Uint8Array {
  const buffer = bytes.buffer;
  if (
    buffer instanceof ArrayBuffer &&
    bytes.byteOffset === 0 &&
    bytes.byteLength === buffer.byteLength
  ) {
    try {
      return new Uint8Array(structuredClone(buffer, { transfer: [buffer] }));
    } catch {
      // Untransferable (e.g. Node's Buffer pool): fall through to a copy.
    }
  }
  return new Uint8Array(bytes);
}
