// Reconcile: the cached lists filled again in the background, one fill per status at a time
// (joining a fill a read started). Each fill replaces the index with the MES's snapshot under
// the same epoch/tombstone protocol, so it corrects a missed event and never undoes a removal.
import type { Fills } from './fills.js';
import type { Recorder } from './recorder.js';

export interface Reconciler {
  stop(): void;
}

export function startReconcile(opts: {
  /** 0: off. */
  intervalMs: number;
  statuses: readonly string[];
  fills: Fills;
  recorder: Recorder;
}): Reconciler {
  if (opts.intervalMs <= 0) return { stop: () => undefined };
  let stopped = false;
  const timer = setInterval(() => {
    if (stopped) return;
    for (const status of opts.statuses) {
      if (opts.fills.running(status)) continue;
      opts.recorder.reconcile();
      void opts.fills.fillOnce(status).promise;
    }
  }, opts.intervalMs);
  timer.unref();
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
