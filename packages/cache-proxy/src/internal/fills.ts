// Cache-aside fills: one MES list request per status at a time (later readers join it), written
// to the index under the ticket taken before the read, so a fill that raced a removal cannot
// put a taken order back (docs/cache-proxy-consistency.md).
import { performance } from 'node:perf_hooks';
import { fetchUpstream, type FetchedAnswer, type Upstream } from './forward.js';
import type { TestHooks } from './hooks.js';
import { JSON_TYPE, parseList, toIndexItem, type Snapshot } from './orders.js';
import type { Recorder } from './recorder.js';
import type { FillOutcome, IndexStore } from './store.js';

export interface FillResult {
  outcome: FillOutcome | 'store_error' | 'upstream_error';
  snapshot?: Snapshot;
}

export interface Fills {
  /** One fill per status at a time: later callers wait for the one in flight. */
  fillOnce(status: string): { promise: Promise<FillResult>; initiator: boolean };
  /** True while a fill of `status` runs. */
  running(status: string): boolean;
  /** The content type the MES answered `status`'s list with (JSON until a fill has run). */
  contentType(status: string): string;
  /** Resolves once every fill in flight has settled. */
  settled(): Promise<void>;
}

export function createFills(opts: {
  store: IndexStore;
  upstream: Upstream;
  fillDepth: number;
  hooks: TestHooks;
  recorder: Recorder;
}): Fills {
  const { store, recorder } = opts;
  const fills = new Map<string, Promise<FillResult>>();
  const contentTypes = new Map<string, string>();

  async function runFill(status: string): Promise<FillResult> {
    const started = performance.now();
    const finish = (result: FillResult): FillResult => {
      recorder.fill(result.outcome, (performance.now() - started) / 1000);
      return result;
    };
    const incarnation = store.incarnation;
    let e0: number;
    try {
      e0 = await store.ticket(status);
    } catch (error) {
      recorder.storeFailed(error);
      return finish({ outcome: 'store_error' });
    }
    let answer: FetchedAnswer;
    try {
      answer = await fetchUpstream(
        opts.upstream,
        `/api/orders?status=${encodeURIComponent(status)}&page=1&pageSize=${opts.fillDepth}`,
      );
    } catch {
      return finish({ outcome: 'upstream_error' });
    }
    const snapshot = answer.status === 200 ? parseList(answer) : undefined;
    if (!snapshot) return finish({ outcome: 'upstream_error' });
    contentTypes.set(status, snapshot.contentType);
    if (opts.hooks.afterFillRead) await opts.hooks.afterFillRead(status);
    // The store reconnected since the ticket (a restarted Redis counts epochs afresh): the
    // snapshot cannot be checked against removals made since, so it is not written.
    if (store.incarnation !== incarnation) return finish({ outcome: 'reset', snapshot });
    try {
      const outcome = await store.fill(status, e0, snapshot.items.map(toIndexItem), snapshot.total);
      return finish({ outcome, snapshot });
    } catch (error) {
      recorder.storeFailed(error);
      return finish({ outcome: 'store_error', snapshot });
    }
  }

  return {
    fillOnce(status) {
      const inFlight = fills.get(status);
      if (inFlight) return { promise: inFlight, initiator: false };
      const promise = runFill(status).finally(() => fills.delete(status));
      fills.set(status, promise);
      return { promise, initiator: true };
    },
    running: (status) => fills.has(status),
    contentType: (status) => contentTypes.get(status) ?? JSON_TYPE,
    async settled() {
      await Promise.allSettled([...fills.values()]);
    },
  };
}
