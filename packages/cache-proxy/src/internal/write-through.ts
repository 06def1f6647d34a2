// Write-through: an order that entered a cached status (an event said so, or a write through
// the proxy answered with it) is read back from the MES by id and added to the index under a
// ticket, so it is listed as soon as its creation or approval is acknowledged.
import { precedes } from '@meskit/kernel';
import { fetchUpstream, type Upstream } from './forward.js';
import { isOrderItem, toIndexItem } from './orders.js';
import { viaStore, type Recorder } from './recorder.js';
import type { IndexStore } from './store.js';

/** How long write-through waits for the MES to apply an event announced before it did. */
const WRITE_THROUGH_WAITS_MS = [50, 100, 200, 400, 800, 1600];

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
  closed: () => boolean;
}): WriteThrough {
  const { store, recorder } = opts;
  return async function writeThrough(status, orderId, source = 'event') {
    for (let attempt = 0; ; attempt++) {
      const incarnation = store.incarnation;
      const ticket = await viaStore(recorder, () => store.ticket(status));
      const answer = await fetchUpstream(opts.upstream, `/api/orders/${orderId}`);
      if (answer.status === 404) {
        // An event names an order the MES has: not found yet is a read behind the write (a
        // replica still replaying the order's creation), waited for like a status behind.
        const wait = WRITE_THROUGH_WAITS_MS[attempt];
        if (source === 'proxy' || opts.closed() || wait === undefined) return;
        await pause(wait);
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
      const wait = WRITE_THROUGH_WAITS_MS[attempt];
      if (opts.closed() || wait === undefined) return;
      if (typeof order.status !== 'string' || !precedes(order.status, status)) return;
      await pause(wait);
    }
  };
}
