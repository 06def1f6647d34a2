// Write-through: an order that entered a cached status (an event said so, or a write through
// the proxy answered with it) is read back from the MES by id and added to the index under a
// ticket, so it is listed as soon as its creation or approval is acknowledged.
import { precedes } from '@meskit/kernel';
import { fetchUpstream, type Upstream } from './forward.js';
import type { TestHooks } from './hooks.js';
import { isOrderItem, toIndexItem } from './orders.js';
import { viaStore, type Recorder } from './recorder.js';
import type { IndexStore } from './store.js';

/**
 * How long write-through waits for the MES to show what an event announced: the CRM announces
 * an approval the MES then consumes, and a MES reading a replica (up to db-router's
 * maxLagSeconds behind, 10 s by default) shows it later still; the event carries no position
 * to wait for. 30 s covers both on a loaded machine; each event waits on its own (the consumer
 * has `prefetch` of them in flight), and a removal meanwhile wins (the tombstone). A write
 * through the proxy, whose answer is held until its write-through is done, waits ~3 s at most.
 */
const WRITE_THROUGH_BUDGET_MS = { event: 30_000, proxy: 3_150 } as const;

/** The pause before attempt `attempt + 1`: 50 ms doubling to 2 s, within the budget. */
function nextWait(attempt: number, waited: number, budgetMs: number): number | undefined {
  const wait = Math.min(50 * 2 ** Math.min(attempt, 10), 2_000);
  return waited + wait > budgetMs ? undefined : wait;
}

/** Adds the order to `status`'s index if the MES has it there; rejects when it cannot tell. */
export type WriteThrough = (
  status: string,
  orderId: number,
  source?: 'event' | 'proxy',
) => Promise<void>;

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

export function createWriteThrough(opts: {
  store: IndexStore;
  upstream: Upstream;
  recorder: Recorder;
  hooks: TestHooks;
  closed: () => boolean;
}): WriteThrough {
  const { store, recorder } = opts;
  return async function writeThrough(status, orderId, source = 'event') {
    const budgetMs = opts.hooks.writeThroughBudgetMs ?? WRITE_THROUGH_BUDGET_MS[source];
    let waited = 0;
    for (let attempt = 0; ; attempt++) {
      const incarnation = store.incarnation;
      const ticket = await viaStore(recorder, () => store.ticket(status));
      if (opts.hooks.beforeWriteThroughRead)
        await opts.hooks.beforeWriteThroughRead(status, orderId);
      const answer = await fetchUpstream(opts.upstream, `/api/orders/${orderId}`);
      if (answer.status === 404) {
        // An event names an order the MES has: not found yet is a read behind the write (a
        // replica still replaying the order's creation), waited for like a status behind.
        if (source === 'proxy' || opts.closed()) return;
        const wait = nextWait(attempt, waited, budgetMs);
        if (wait === undefined) {
          recorder.writeThroughGaveUp(source, 'not_found', { orderId, status, waitedMs: waited });
          return;
        }
        await pause(wait);
        waited += wait;
        continue;
      }
      if (answer.status !== 200) {
        throw new Error(`the MES answered GET /api/orders/${orderId} with ${answer.status}`);
      }
      let order: unknown;
      try {
        order = JSON.parse(answer.body.toString('utf8'));
      } catch {
        order = undefined;
      }
      if (!isOrderItem(order)) {
        throw new Error(`the MES answered GET /api/orders/${orderId} with no order`);
      }
      if (order.status === status) {
        // Reconnected since the ticket: take a new one (see the fills).
        if (store.incarnation !== incarnation) continue;
        const item = toIndexItem(order);
        const outcome = await viaStore(recorder, () => store.add(status, item, ticket));
        if (outcome === 'added') recorder.write(source);
        return;
      }
      // The event was published before the MES applied it (the CRM announces an approval the
      // MES then consumes): wait a little for the MES to catch up.
      if (opts.closed()) return;
      if (typeof order.status !== 'string' || !precedes(order.status, status)) return;
      const wait = nextWait(attempt, waited, budgetMs);
      if (wait === undefined) {
        recorder.writeThroughGaveUp(source, 'behind', { orderId, status, waitedMs: waited });
        return;
      }
      await pause(wait);
      waited += wait;
    }
  };
}
