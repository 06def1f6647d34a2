// Messages between the pool (main thread) and its workers. Plain data only: everything
// here crosses the thread boundary by structured clone (the model bytes by transfer).
import type { NormalizedAnalyzeOptions } from '../analyze.js';
import { MeshError, PriceModelError, PricingPoolError, type MeshErrorCode } from '../errors.js';
import type { PriceModel } from '../price-model.js';

/**
 * Internal test hook, not part of the public API (not exported from the package index):
 * a submit option under this key makes the worker block that many milliseconds before
 * analysing, so tests can make a job slow deterministically (timeout, cancellation).
 */
export const TEST_DELAY_MS: unique symbol = Symbol('meskit.pricing-runner.testDelayMs');

/** What every worker of a pool is started with (`workerData`). */
export interface WorkerConfig {
  analyze: NormalizedAnalyzeOptions;
  model: PriceModel;
  /** Set in offload mode: the worker runs this function instead of analyse + price. */
  offload: { url: string; exportName: string; options: Record<string, unknown> } | null;
}

export interface JobRequest {
  id: number;
  bytes: Uint8Array;
  alloy: string | undefined;
  delayMs: number;
}

export interface SerializedError {
  /** `Offload`: thrown by (or while loading) the offloaded function. */
  kind: 'MeshError' | 'PriceModelError' | 'Offload' | 'Error';
  /** The original error's `name` (offload errors keep it in their `cause`). */
  name: string;
  code: string | undefined;
  field: string | undefined;
  message: string;
  stack: string | undefined;
}

export type JobResponse =
  { id: number; ok: true; value: unknown } | { id: number; ok: false; error: SerializedError };

/**
 * A worker's first message, once its modules are loaded: the pool hands it jobs only then, so
 * a job's timeout never includes the start-up of a fresh (or replacement) worker.
 */
export interface WorkerReady {
  ready: true;
}

/** An error thrown in a worker as plain data; `kind: 'Offload'` when the offloaded code threw it. */
export function serializeError(error: unknown, kind?: 'Offload'): SerializedError {
  const e = error instanceof Error ? error : new Error(String(error));
  const code = (e as { code?: unknown }).code;
  return {
    kind:
      kind ??
      (error instanceof MeshError
        ? 'MeshError'
        : error instanceof PriceModelError
          ? 'PriceModelError'
          : 'Error'),
    name: e.name,
    code: typeof code === 'string' ? code : undefined,
    field: error instanceof PriceModelError ? error.field : undefined,
    message: e.message,
    stack: e.stack,
  };
}

/** The error a worker serialised, rebuilt on the pool's side with the worker's stack appended. */
export function reviveError(error: SerializedError): Error {
  let revived: Error;
  if (error.kind === 'MeshError') {
    revived = new MeshError(error.code as MeshErrorCode, error.message);
  } else if (error.kind === 'PriceModelError') {
    revived = new PriceModelError(error.field ?? '', '');
    revived.message = error.message;
  } else if (error.kind === 'Offload') {
    // The original error, rebuilt as far as plain data allows: callers can still tell an
    // MES's own codes (error.cause.code) apart.
    const cause = Object.assign(new Error(error.message), {
      name: error.name,
      ...(error.code === undefined ? {} : { code: error.code }),
    });
    if (error.stack) cause.stack = error.stack;
    revived = new PricingPoolError('OFFLOAD_FAILED', `offloaded pricing failed: ${error.message}`, {
      cause,
    });
  } else {
    revived = new PricingPoolError('WORKER_FAILED', `pricing worker failed: ${error.message}`);
  }
  if (error.stack)
    revived.stack = `${revived.stack ?? ''}\n    --- in pricing worker ---\n${error.stack}`;
  return revived;
}
