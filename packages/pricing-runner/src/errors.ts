import { MeskitError } from '@meskit/kernel';

/**
 * Stable codes for the errors this package throws. Callers (the sidecar, the CLI) map
 * them to 4xx answers and exit codes, so a code never changes meaning once released.
 * - `EMPTY`: the input has no bytes, or a format parsed to no triangles at all.
 * - `TRUNCATED`: the data stops before the structure it declares is complete.
 * - `BAD_COUNT`: a binary STL header declares a triangle count the file size contradicts.
 * - `NON_FINITE`: a coordinate is NaN or infinite.
 * - `UNKNOWN_FORMAT`: the bytes are none of binary STL, ASCII STL, OBJ or 3MF (an image, a
 *   PDF, a ZIP that is no 3MF package, text that is neither ASCII STL nor OBJ, ...).
 * - `TOO_LARGE`: the input exceeds `maxBytes`, or the model exceeds `maxTriangles`.
 * - `ZIP_BOMB`: a 3MF entry would inflate past `maxDecompressedBytes` or `maxCompressionRatio`.
 * - `BAD_ZIP`: the 3MF container is not a readable ZIP (corrupt, encrypted, unsupported method).
 * - `BAD_3MF`: the ZIP is readable but its 3MF content is not (missing model, bad XML, bad reference).
 * - `BAD_STL`: an ASCII STL does not follow the `solid/facet/outer loop/vertex` grammar.
 * - `BAD_OBJ`: an OBJ line cannot be parsed (a face with fewer than 3 vertices, a bad number).
 * - `BAD_OBJ_INDEX`: an OBJ face refers to vertex 0 or to a vertex that does not exist.
 *
 * An invalid option is not a model problem: `analyzeMesh` and every factory throw the
 * kernel's `InvalidOptionError` (`INVALID_OPTION`) for it.
 */
export type MeshErrorCode =
  | 'EMPTY'
  | 'TRUNCATED'
  | 'BAD_COUNT'
  | 'NON_FINITE'
  | 'UNKNOWN_FORMAT'
  | 'TOO_LARGE'
  | 'ZIP_BOMB'
  | 'BAD_ZIP'
  | 'BAD_3MF'
  | 'BAD_STL'
  | 'BAD_OBJ'
  | 'BAD_OBJ_INDEX';

/** A model that cannot be analysed. `code` is stable; `message` says what is wrong and where. */
export class MeshError extends MeskitError<MeshErrorCode> {}

/**
 * A price model that fails validation (a `priceModel` option, a model file, an unknown alloy
 * asked for); `field` names the offending path.
 */
export class PriceModelError extends MeskitError<'BAD_PRICE_MODEL'> {
  readonly field: string;

  constructor(field: string, message: string, options?: { cause?: unknown }) {
    super('BAD_PRICE_MODEL', `price model: ${field}: ${message}`, options);
    this.field = field;
  }
}

/**
 * Stable codes of `PricingPoolError`:
 * - `QUEUE_FULL`: `maxQueue` jobs are already waiting; retry later or add threads.
 * - `TIMEOUT`: the job ran longer than `timeoutMs`; its worker was terminated and replaced.
 * - `CANCELLED`: the job's `signal` aborted (queued: removed; running: worker replaced).
 * - `CLOSED`: the pool (or runner) was closed before the job could run.
 * - `WORKER_FAILED`: the worker thread crashed or exited while running the job.
 * - `OFFLOAD_FAILED`: in offload mode, the offloaded function threw (or rejected), returned
 *   a value that is not JSON-serialisable, or its module could not be loaded. The message
 *   carries the original message; `cause` is an `Error` with the original `name`, `code`
 *   (when it had one) and stack.
 */
export type PricingPoolErrorCode =
  'QUEUE_FULL' | 'TIMEOUT' | 'CANCELLED' | 'CLOSED' | 'WORKER_FAILED' | 'OFFLOAD_FAILED';

/** A job the pool did not run to completion. `CANCELLED` errors are named `AbortError`. */
export class PricingPoolError extends MeskitError<PricingPoolErrorCode> {
  constructor(code: PricingPoolErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    // Named like the platform's abort errors, so `name === 'AbortError'` checks written
    // for fetch also recognise a cancelled quote.
    if (code === 'CANCELLED') this.name = 'AbortError';
  }
}
