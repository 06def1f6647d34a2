// Messages between the pool (main thread) and its workers. Plain data only: everything
// here crosses the thread boundary by structured clone (the model bytes by transfer).
import type { MeshAnalysis } from '../analyze.js';
import type { PriceQuote } from '../price-model.js';

/**
 * Internal test hook, not part of the public API (not exported from the package index):
 * a submit option under this key makes the worker block that many milliseconds before
 * analysing, so tests can make a job slow deterministically (timeout, cancellation).
 */
export const TEST_DELAY_MS: unique symbol = Symbol('meskit.pricing-runner.testDelayMs');

export interface JobRequest {
  id: number;
  bytes: Uint8Array;
  alloy: string | undefined;
  delayMs: number;
}

export interface SerializedError {
  kind: 'MeshError' | 'PriceModelError' | 'Error';
  code: string | undefined;
  field: string | undefined;
  message: string;
  stack: string | undefined;
}

export type JobResponse =
  | { id: number; ok: true; analysis: MeshAnalysis; price: PriceQuote | null }
  | { id: number; ok: false; error: SerializedError };
