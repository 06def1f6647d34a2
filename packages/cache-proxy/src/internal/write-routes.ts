// Writes through the proxy: forwarded to the MES, and before the client sees a 2xx the index
// has the write's effect (a take removes the order everywhere; a write answered with an order
// of a cached status writes it through).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { TAKE } from '@meskit/kernel';
import { forward, type Upstream } from './forward.js';
import type { Invalidations } from './invalidations.js';
import { isOrderItem } from './orders.js';
import { CACHE } from './pass-through.js';
import { viaStore, type Recorder } from './recorder.js';
import type { IndexStore } from './store.js';
import type { WriteThrough } from './write-through.js';

export interface WriteRoutes {
  /** `POST /api/orders/:id/take`. */
  take(req: IncomingMessage, res: ServerResponse, idText: string): Promise<void>;
  /** Any other POST. */
  write(req: IncomingMessage, res: ServerResponse): Promise<void>;
}

export function createWriteRoutes(opts: {
  statuses: readonly string[];
  upstream: Upstream;
  store: IndexStore;
  invalidations: Invalidations;
  writeThrough: WriteThrough;
  recorder: Recorder;
  /** How long a take's answer waits for a removal that failed to land (invalidationWaitMs). */
  invalidationWaitMs: number;
}): WriteRoutes {
  const { upstream, recorder } = opts;
  return {
    async take(req, res, idText) {
      recorder.forwarded();
      const orderId = /^[1-9][0-9]{0,15}$/.test(idText) ? Number(idText) : undefined;
      await forward(upstream, req, res, {
        cacheStatus: `${CACHE}; fwd=bypass`,
        // Before the client sees the 2xx: once it has it, no later read lists the order.
        beforeReply: async (statusCode, body) => {
          if (statusCode < 200 || statusCode > 299 || orderId === undefined) return;
          let score: number | undefined;
          try {
            const order: unknown = JSON.parse(body.toString('utf8'));
            if (isOrderItem(order) && order.id === orderId) score = Date.parse(order.createdAt);
          } catch {
            // Not the MES's usual answer: remove without the position hint.
          }
          const landed = await opts.invalidations.invalidate(orderId, 'proxy', (status) => ({
            known: status === TAKE.from,
            ...(score !== undefined ? { score } : {}),
          }));
          // The store is away (reconnecting, failing over): another proxy sharing the index
          // could list the order until the retried removal lands, so the answer waits for it
          // a while. This proxy forwards reads of the list meanwhile.
          if (!landed) await opts.invalidations.landed(orderId, opts.invalidationWaitMs);
        },
      });
    },

    /**
     * When the MES answers 2xx with an order in a cached status (a B2B upload creating one,
     * say), the order is written through before the client gets the answer. The document is
     * the MES's own list item (read back by id), not the write's answer.
     */
    write(req, res) {
      recorder.forwarded();
      return forward(upstream, req, res, {
        cacheStatus: `${CACHE}; fwd=bypass`,
        beforeReply: async (statusCode, body) => {
          if (statusCode < 200 || statusCode > 299) return;
          let created: unknown;
          try {
            created = JSON.parse(body.toString('utf8'));
          } catch {
            return; // not JSON: not an order
          }
          const { id, status } = (created ?? {}) as { id?: unknown; status?: unknown };
          if (typeof id !== 'number' || !Number.isSafeInteger(id) || typeof status !== 'string')
            return;
          if (!opts.statuses.includes(status)) return;
          try {
            await opts.writeThrough(status, id, 'proxy');
          } catch {
            // Not written through: drop the list so the next read fills it with the order.
            await viaStore(recorder, () => opts.store.reset([status])).catch(() => undefined);
          }
        },
      });
    },
  };
}
