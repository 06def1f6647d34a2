// Starting the pool's worker threads and handing them a model's bytes.
import { Worker } from 'node:worker_threads';
import type { WorkerConfig } from './pool-protocol.js';

const WORKER_URL = new URL('./pool-worker.js', import.meta.url);

/**
 * The flags a worker starts with. Left to Node (`undefined`), a worker inherits the host's
 * flags, the V8 and process-wide ones (`--max-old-space-size`, `--max-semi-space-size`,
 * `--stack-trace-limit`...) silently left out. Only a host run as `node --input-type=module -e`
 * needs a list of its own, without `--input-type` (a worker started from a file refuses it):
 * Node then checks every flag of that list, and refuses the V8 ones (ERR_WORKER_INVALID_EXEC_ARGV,
 * naming them), so those it names are left out and the worker is started again.
 */
export function startWorker(workerData: WorkerConfig): Worker {
  if (!process.execArgv.some((arg) => arg.startsWith('--input-type')))
    return new Worker(WORKER_URL, { workerData });
  let execArgv = process.execArgv.filter((arg) => !arg.startsWith('--input-type'));
  for (;;) {
    try {
      return new Worker(WORKER_URL, { execArgv, workerData });
    } catch (error) {
      const refused = refusedFlags(error);
      const kept = execArgv.filter((arg) => !refused.has(arg));
      if (kept.length === execArgv.length) throw error;
      execArgv = kept;
    }
  }
}

/** The flags an ERR_WORKER_INVALID_EXEC_ARGV names ("...invalid execArgv flags: a, b"). */
function refusedFlags(error: unknown): Set<string> {
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (code !== 'ERR_WORKER_INVALID_EXEC_ARGV' || typeof message !== 'string') return new Set();
  const list = message.slice(message.lastIndexOf(': ') + 2);
  return new Set(list.split(', ').map((flag) => flag.trim()));
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
