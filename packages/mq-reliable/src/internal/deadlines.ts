// Deadlines of many pending operations on one timer, not one per operation (a timer per publish
// cost several microseconds each at thousands a second). The entries are kept in start order;
// while every one has the same timeout that is also deadline order, and a sweep stops at the
// first one not due. One whose deadline is out of that order (its own timeout, or a wait before
// it was added) makes every sweep look at them all.
import { performance } from 'node:perf_hooks';

export interface Deadlines<E> {
  /** `entry` was added, with `deadline` (performance.now() time); `inOrder`: see above. */
  added(entry: E, inOrder: boolean): void;
  /** No entry is pending: the timer goes. */
  stop(): void;
}

export function createDeadlines<E extends { deadline: number }>(
  pending: () => Iterable<E>,
  expire: (entry: E) => void,
): Deadlines<E> {
  let timer: NodeJS.Timeout | undefined;
  let at = Infinity;
  let ordered = true;

  function arm(when: number): void {
    if (when >= at) return;
    if (timer) clearTimeout(timer);
    at = when;
    timer = setTimeout(sweep, Math.max(1, Math.ceil(when - performance.now())));
    timer.unref();
  }

  function sweep(): void {
    timer = undefined;
    at = Infinity;
    const now = performance.now();
    let next = Infinity;
    for (const entry of pending()) {
      if (entry.deadline <= now) {
        expire(entry);
        continue;
      }
      next = Math.min(next, entry.deadline);
      if (ordered) break;
    }
    if (next !== Infinity) arm(next);
  }

  return {
    added(entry, inOrder) {
      if (!inOrder) ordered = false;
      arm(entry.deadline);
    },
    stop() {
      if (timer) clearTimeout(timer);
      timer = undefined;
      at = Infinity;
    },
  };
}
