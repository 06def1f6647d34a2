// Messages between the pool (main thread) and its workers. Plain data only: everything
// here crosses the thread boundary by structured clone (the model bytes by transfer).
import type { NormalizedAnalyzeOptions } from '../analyze.js';
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
