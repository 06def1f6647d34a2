// Whether the simulated day's messages all arrived, read from the MES's own tables once the
// traffic stopped: every order the shop submitted exists, every approval the CRM sent was
// applied, no order priced well before the end waits for an approval that never came, no
// status was applied twice, and every take answered 200 is committed.
import pg from 'pg';
import type { SimulationReport } from '@meskit/reference-mes';

/** Orders priced or submitted this long before the traffic stopped must have moved on. */
export const FLOW_GRACE_SECONDS = 10;
/** How long the MES may take to drain its queues after the traffic stops. */
const DRAIN_MS = 30_000;

export interface FlowCheck {
  /** `order.submitted` published by the shop, and the orders they created. */
  shopSubmitted: number;
  shopOrders: number;
  /** `order.manufacturing_approved` sent by the CRM, and the orders that reached the status. */
  approvalsSent: number;
  approved: number;
  /** Takes answered 200, and take transitions committed (history rows to MANUFACTURING_STARTED). */
  takesWon: number;
  takesCommitted: number;
  /** Orders priced more than the grace before the end and still waiting for their approval. */
  pricedNeverApproved: number;
  /** Shop orders created more than the grace before the end and never priced. */
  neverPriced: number;
  /** (order, status) pairs applied more than once. */
  duplicateEffects: number;
}

/** What of a flow check is lost or wrong: each a count that must be 0. */
export function flowErrors(flow: FlowCheck): Record<string, number> {
  return {
    'shop orders lost (order.submitted)': Math.max(0, flow.shopSubmitted - flow.shopOrders),
    'approvals lost (order.manufacturing_approved)': Math.max(
      0,
      flow.approvalsSent - flow.approved,
    ),
    'priced, never approved (order.price_calculated lost)': flow.pricedNeverApproved,
    'shop orders never priced': flow.neverPriced,
    'statuses applied twice': flow.duplicateEffects,
    'takes answered 200 but not committed, or committed unanswered': Math.abs(
      flow.takesWon - flow.takesCommitted,
    ),
  };
}

interface Counts {
  shop_orders: string;
  approved: string;
  taken: string;
  priced_never_approved: string;
  never_priced: string;
  duplicates: string;
}

// Only this run's simulated orders: their external ids start with the simulation's `sim-` tag
// (seeded ones with `seed-`). Seeded orders have no history rows, so every history row to
// MANUFACTURING_STARTED is a take of this run.
const COUNTS = `
  SELECT
    (SELECT count(*) FROM orders WHERE external_id LIKE 'sim-%-shop-%') AS shop_orders,
    (SELECT count(DISTINCT h.order_id) FROM order_status_history h JOIN orders o ON o.id = h.order_id
      WHERE o.external_id LIKE 'sim-%' AND h.to_status = 'MANUFACTURING_APPROVED') AS approved,
    (SELECT count(*) FROM order_status_history WHERE to_status = 'MANUFACTURING_STARTED') AS taken,
    (SELECT count(*) FROM orders WHERE external_id LIKE 'sim-%' AND status = 'PRICE_CALCULATED'
      AND updated_at < $1::timestamptz - make_interval(secs => $2)) AS priced_never_approved,
    (SELECT count(*) FROM orders WHERE external_id LIKE 'sim-%' AND status = 'SUBMITTED'
      AND created_at < $1::timestamptz - make_interval(secs => $2)) AS never_priced,
    (SELECT count(*) FROM (SELECT h.order_id, h.to_status FROM order_status_history h
       JOIN orders o ON o.id = h.order_id WHERE o.external_id LIKE 'sim-%'
      GROUP BY h.order_id, h.to_status HAVING count(*) > 1) d) AS duplicates`;

/**
 * Reads the counts, again every half second until the MES has applied everything the traffic
 * sent (or DRAIN_MS passed): the last messages may still be in its queues.
 */
export async function checkFlow(
  databaseUrl: string,
  report: SimulationReport,
  trafficEndedAt: Date,
): Promise<FlowCheck> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const deadline = Date.now() + DRAIN_MS;
    for (;;) {
      const { rows } = await client.query<Counts>(COUNTS, [
        trafficEndedAt.toISOString(),
        FLOW_GRACE_SECONDS,
      ]);
      const r = rows[0]!;
      const flow: FlowCheck = {
        shopSubmitted: report.shopOrdersSubmitted,
        shopOrders: Number(r.shop_orders),
        approvalsSent: report.approvalsSent,
        approved: Number(r.approved),
        takesWon: report.takesWon,
        takesCommitted: Number(r.taken),
        pricedNeverApproved: Number(r.priced_never_approved),
        neverPriced: Number(r.never_priced),
        duplicateEffects: Number(r.duplicates),
      };
      const drained =
        flow.shopOrders >= flow.shopSubmitted &&
        flow.approved >= flow.approvalsSent &&
        flow.takesCommitted >= flow.takesWon;
      if (drained || Date.now() > deadline) return flow;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  } finally {
    await client.end();
  }
}
