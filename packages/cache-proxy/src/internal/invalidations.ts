// Removing an order from every cached index, and the bounded retry queue of removals that
// failed: while one waits, reads of its lists are forwarded to the MES, so a take that was
// acknowledged never reappears because Redis was briefly away.
import type { WarnOnce } from '@meskit/kernel';
import type { InvalidationSource, Recorder } from './recorder.js';
import { memberOf, type IndexStore, type RemoveHint } from './store.js';

const WARN_INVALIDATION_DROPPED = 'MESKIT_CACHE_INVALIDATION_DROPPED';
/** Failed removals kept for retry; past it they are dropped (counted, warned once). */
const MAX_PENDING_INVALIDATIONS = 10_000;
const INVALIDATION_RETRY_MIN_MS = 100;
const INVALIDATION_RETRY_MAX_MS = 5_000;

interface PendingInvalidation {
  orderId: number;
  statuses: Set<string>;
  hint: Map<string, RemoveHint>;
}

export interface Invalidations {
  /**
   * Removes the order from every cached index; false when some removal failed (then it is
   * retried in the background and reads of those lists are forwarded until it lands).
   */
  invalidate(
    orderId: number,
    source: Exclude<InvalidationSource, 'event'>,
    hintFor: (status: string) => RemoveHint,
  ): Promise<boolean>;
  /**
   * Resolves true once no removal of `orderId` waits for a retry any more, or false after
   * `waitMs` (or when the proxy closes). While someone waits, retries do not back off.
   */
  landed(orderId: number, waitMs: number): Promise<boolean>;
  /** True while a removal from `status`'s index waits for a retry. */
  pendingFor(status: string): boolean;
  /** Stops retrying (the proxy closed). */
  stop(): void;
}

export function createInvalidations(opts: {
  store: IndexStore;
  statuses: readonly string[];
  recorder: Recorder;
  warnOnce: WarnOnce;
}): Invalidations {
  const { store, recorder } = opts;
  const pending = new Map<number, PendingInvalidation>();
  /** Takes waiting for their removal to land, by order id. */
  const waiters = new Map<number, Set<(landed: boolean) => void>>();
  let retryTimer: NodeJS.Timeout | undefined;
  let retryAttempt = 0;
  let retrying = false;
  let stopped = false;

  function release(orderId: number, landed: boolean): void {
    const waiting = waiters.get(orderId);
    if (!waiting) return;
    waiters.delete(orderId);
    for (const resolve of waiting) resolve(landed);
  }

  async function removeEverywhere(
    orderId: number,
    hintFor: (status: string) => RemoveHint,
    statuses: readonly string[],
  ): Promise<Set<string>> {
    const failed = new Set<string>();
    await Promise.all(
      statuses.map(async (status) => {
        try {
          await store.remove(status, memberOf(orderId), hintFor(status));
        } catch (error) {
          recorder.storeFailed(error);
          failed.add(status);
        }
      }),
    );
    return failed;
  }

  /** Remembers removals that failed; reads of those lists bypass the index until they land. */
  function defer(
    orderId: number,
    statuses: Set<string>,
    hintFor: (status: string) => RemoveHint,
  ): void {
    const entry = pending.get(orderId) ?? { orderId, statuses: new Set(), hint: new Map() };
    for (const status of statuses) {
      entry.statuses.add(status);
      entry.hint.set(status, hintFor(status));
    }
    if (!pending.has(orderId) && pending.size >= MAX_PENDING_INVALIDATIONS) {
      recorder.droppedInvalidation();
      opts.warnOnce(
        WARN_INVALIDATION_DROPPED,
        `cache proxy: ${MAX_PENDING_INVALIDATIONS} removals already wait for the store; further ones are dropped and the affected lists rely on ttlMs. Counted in stats().droppedInvalidations.`,
      );
      return;
    }
    pending.set(orderId, entry);
    recorder.pendingInvalidations(pending.size);
    scheduleRetry();
  }

  function scheduleRetry(): void {
    // A round in flight schedules the next one itself when it ends.
    if (retryTimer || retrying || stopped || pending.size === 0) return;
    // A take waiting for its removal retries at the shortest interval: its answer waits.
    const delay =
      waiters.size > 0
        ? INVALIDATION_RETRY_MIN_MS
        : Math.min(INVALIDATION_RETRY_MAX_MS, INVALIDATION_RETRY_MIN_MS * 2 ** retryAttempt);
    retryAttempt += 1;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      void retryPending();
    }, delay);
    retryTimer.unref();
  }

  async function retryPending(): Promise<void> {
    retrying = true;
    try {
      await retryRound();
    } finally {
      retrying = false;
    }
    recorder.pendingInvalidations(pending.size);
    if (pending.size === 0) retryAttempt = 0;
    else scheduleRetry();
  }

  async function retryRound(): Promise<void> {
    for (const entry of [...pending.values()]) {
      if (stopped) return;
      const failed = await removeEverywhere(
        entry.orderId,
        (s) => entry.hint.get(s) ?? { known: false },
        [...entry.statuses],
      );
      if (failed.size === 0) {
        pending.delete(entry.orderId);
        release(entry.orderId, true);
      } else {
        entry.statuses = failed;
        return; // still down: wait for the next round
      }
    }
  }

  return {
    async invalidate(orderId, source, hintFor) {
      const failed = await removeEverywhere(orderId, hintFor, opts.statuses);
      recorder.invalidation(source);
      if (failed.size > 0) {
        defer(orderId, failed, hintFor);
        return false;
      }
      return true;
    },
    landed(orderId, waitMs) {
      if (!pending.has(orderId)) return Promise.resolve(true);
      if (stopped || waitMs <= 0) return Promise.resolve(false);
      return new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          waiting.delete(done);
          if (waiting.size === 0) waiters.delete(orderId);
          resolve(false);
        }, waitMs);
        timer.unref();
        const done = (landed: boolean): void => {
          clearTimeout(timer);
          resolve(landed);
        };
        const waiting = waiters.get(orderId) ?? new Set();
        waiting.add(done);
        waiters.set(orderId, waiting);
        // The next retry comes at the shortest interval from now on.
        if (retryTimer) {
          clearTimeout(retryTimer);
          retryTimer = undefined;
        }
        scheduleRetry();
      });
    },
    pendingFor(status) {
      if (pending.size === 0) return false;
      for (const entry of pending.values()) if (entry.statuses.has(status)) return true;
      return false;
    },
    stop() {
      stopped = true;
      if (retryTimer) clearTimeout(retryTimer);
      for (const orderId of [...waiters.keys()]) release(orderId, false);
    },
  };
}
