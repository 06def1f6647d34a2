// Scratch typed arrays reused across analyses on the same thread.
//
// A 1M-triangle analysis needs about 70 MB of temporary Int32Arrays. Allocating them fresh
// on every call costs more than it seems: the memory is zeroed and page-faulted in each
// time (tens of milliseconds per call), and the garbage collector has to return it. Keeping
// them between calls trades that time for retained memory: each thread (a worker of the
// coming pool, or the main thread) keeps at most `SCRATCH_CAP_BYTES` of scratch, and
// `releaseScratch()` gives it all back (for example when a worker goes idle).
//
// Every slot has its own name so two arrays in use at the same time never share memory.
// Analyses are synchronous, so a slot is never used by two calls at once. Callers must not
// assume the contents are zero: each one initialises what it reads.

/** Largest total of retained scratch per thread; larger requests are allocated fresh. */
export const SCRATCH_CAP_BYTES = 192 * 1024 * 1024;

const slots = new Map<string, Int32Array>();
let retained = 0;

/**
 * An Int32Array of exactly `length` elements with unspecified contents, backed by a
 * retained buffer when the cap allows (reused by the next call with the same `name`).
 */
export function scratchInt32(name: string, length: number): Int32Array {
  const held = slots.get(name);
  if (held !== undefined && held.length >= length) return held.subarray(0, length);
  // Some headroom so slightly larger models do not reallocate every time.
  const size = length + (length >>> 3) + 64;
  const before = held === undefined ? 0 : held.byteLength;
  if (retained - before + 4 * size > SCRATCH_CAP_BYTES) {
    if (held !== undefined) {
      slots.delete(name);
      retained -= before;
    }
    return new Int32Array(length);
  }
  const fresh = new Int32Array(size);
  slots.set(name, fresh);
  retained += 4 * size - before;
  return fresh.subarray(0, length);
}

/** Frees every retained scratch array of this thread; the next analysis allocates again. */
export function releaseScratch(): void {
  slots.clear();
  retained = 0;
}

/** Bytes of scratch this thread currently retains. */
export function retainedScratchBytes(): number {
  return retained;
}
