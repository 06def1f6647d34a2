// The shop, the CRM and the operators, end to end, on the real servers and in real browsers:
// a B2B quote from a real model file goes through the MES's statuses with the take clicked on
// the operators' page (through cache-proxy), and two operators race for the newest order in
// two browsers: one wins, the other is told, and after a reload neither lists it. Assertions
// are on what people see: the price, the pages, the statuses.
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { SPAN_KIND, type ReceivedSpan } from '@meskit/otel-bootstrap/testing';
import { waitFor } from '@meskit/testkit';
import { useStack } from './support/hooks.js';
import {
  LIFECYCLE,
  LIFECYCLE_FROM_QUOTE,
  crm,
  history,
  newTraceparent,
  quote,
  shopOrder,
  shownStatus,
  statusOf,
  take,
  type Quote,
} from './support/shop.js';
import { stateOf, type Stack } from './support/stack.js';

const stack = useStack();

/**
 * From PRICE_CALCULATED to CLOSED as people do it: the CRM approves the order, it appears first
 * on the operators' page with its price, the operator clicks Take, the order page shows each
 * step after it, and the CRM closes it. Every request carries `traceparent`.
 */
async function throughTheOperatorsPage(s: Stack, order: Quote, traceparent: string) {
  await crm(s, 'approved', order.id);
  await waitFor(
    'the MES approved the order',
    async () => (await statusOf(s, order.id)) === 'MANUFACTURING_APPROVED',
  );
  const page = await s.operator(`operator-1-${order.id}`, { traceparent });
  await page.goto(`${s.proxy.url}/operators?operator=1`);
  const row = page.locator(`[data-testid="order-row"][data-order-id="${order.id}"]`);
  await waitFor(
    'the page lists the approved order',
    async () => {
      await page.reload();
      return (await row.count()) === 1;
    },
    // The documented bound: write-through within 30 s, else the next reconcile (45 s). In two
    // CI runs of 2026-12-04 the write-through did not list it within 20 s (writes 0 in the
    // hint): an open defect, named in the stop's note; the hint still shows it.
    { timeoutMs: 50_000, hint: () => stateOf(s) },
  );
  const first = page.locator('[data-testid="order-row"]').first();
  expect(await first.getAttribute('data-order-id')).toBe(String(order.id));
  expect((await row.getByTestId('order-price').innerText()).trim()).toBe(order.shownPrice);
  expect(await page.getByTestId('order-list').getAttribute('data-list-source')).toMatch(/^meskit;/);

  // The operator takes it.
  expect(await take(page, order.id)).toEqual({ outcome: 'taken', message: 'Taken by you.' });

  // The order page follows it through manufacturing, packaging, shipping and closing.
  const orderPage = await s.operator(`order-page-${order.id}`);
  expect(await shownStatus(s, orderPage, order.id)).toBe('MANUFACTURING_STARTED');
  expect((await orderPage.getByTestId('order-price').innerText()).trim()).toBe(order.shownPrice);
  for (const [step, status] of [
    ['complete', 'MANUFACTURING_COMPLETED'],
    ['package', 'PACKAGING'],
    ['ship', 'SHIPPED'],
  ] as const) {
    const res = await fetch(`${s.proxy.url}/api/orders/${order.id}/${step}`, {
      method: 'POST',
      headers: { traceparent },
    });
    expect(res.status, step).toBe(200);
    expect(await shownStatus(s, orderPage, order.id)).toBe(status);
  }
  await crm(s, 'closed', order.id);
  await waitFor(
    'the order page shows it closed',
    async () => (await shownStatus(s, orderPage, order.id)) === 'CLOSED',
  );
}

/** The routes the operators' part of a journey is served by. */
const OPERATOR_ROUTES = [
  'GET /operators',
  'POST /api/orders/:id/take',
  'POST /api/orders/:id/complete',
  'POST /api/orders/:id/package',
  'POST /api/orders/:id/ship',
];

/**
 * Waits until the journey's trace holds a SERVER span of every route, then checks that its
 * spans hang together: each has its parent in the trace, or the journey's own.
 */
async function expectOneTrace(
  s: Stack,
  traceparent: string,
  routes: readonly string[],
): Promise<ReceivedSpan[]> {
  const [, traceId, rootParent] = traceparent.split('-');
  const journey = (spans: readonly ReceivedSpan[]) => spans.filter((x) => x.traceId === traceId);
  const served = (spans: readonly ReceivedSpan[]) =>
    new Set(
      journey(spans)
        .filter((x) => x.kind === SPAN_KIND.SERVER)
        .map((x) => x.name),
    );
  const spans = await s.otlp.waitForSpans((all) => routes.every((r) => served(all).has(r)));
  expect([...served(spans)]).toEqual(expect.arrayContaining([...routes]));
  const mine = journey(spans);
  const ids = new Set(mine.map((x) => x.spanId));
  for (const span of mine)
    expect(span.parentSpanId === rootParent || ids.has(span.parentSpanId ?? ''), span.name).toBe(
      true,
    );
  return mine;
}

describe('the shop, the CRM and the operators', () => {
  it(
    "a B2B quote from a real model goes through the MES's statuses, taken on the operators' page",
    { timeout: 120_000 },
    async () => {
      const s = stack();
      // The whole journey is one trace: the shop's request, the operator's browser and the
      // steps all carry its traceparent.
      const { traceparent } = newTraceparent();
      const order = await quote(s, `e2e-b2b-${Date.now()}`, { traceparent });
      expect(order.status).toBe('PRICE_CALCULATED');
      expect(order.price).toBeGreaterThan(0);
      expect(order.engine).toBe('runner');

      await throughTheOperatorsPage(s, order, traceparent);
      // Every status it went through, once each, in order.
      expect(await history(s, order.id)).toEqual(LIFECYCLE_FROM_QUOTE);
      // One trace: the quote, the page, the take clicked in the browser and every step, as the
      // MES served them behind the proxy.
      await expectOneTrace(s, traceparent, ['POST /api/b2b/orders', ...OPERATOR_ROUTES]);
    },
  );

  it(
    'a shop order goes through all ten statuses, priced by pricing-runner, taken on the page',
    { timeout: 120_000 },
    async () => {
      const s = stack();
      const { traceparent } = newTraceparent();
      const externalId = `e2e-shop-${Date.now()}`;
      const order = await shopOrder(s, externalId, { traceparent });
      expect(order.status).toBe('PRICE_CALCULATED');
      expect(order.price).toBeGreaterThan(0);
      // The runner kept its result in Redis, for every MES instance and the next identical model.
      const redis = new Redis(s.redisUrl);
      try {
        // Every page of the scan: one SCAN call may return none of the matches.
        const keys: string[] = [];
        let cursor = '0';
        do {
          const [next, page] = await redis.scan(cursor, 'MATCH', `${s.pricingKeyPrefix}*`);
          keys.push(...page);
          cursor = next;
        } while (cursor !== '0');
        expect(keys.length).toBeGreaterThan(0);
      } finally {
        redis.disconnect();
      }

      await throughTheOperatorsPage(s, order, traceparent);
      expect(await history(s, order.id)).toEqual(LIFECYCLE);
      const spans = await expectOneTrace(s, traceparent, OPERATOR_ROUTES);
      // The shop's three messages, carried by its traceparent, were each consumed by the MES in
      // the journey's trace.
      const consumed = spans.filter(
        (x) => x.kind === SPAN_KIND.CONSUMER && x.name === `process ${s.mes.queue}`,
      );
      expect(consumed.length).toBeGreaterThanOrEqual(3);
    },
  );

  it('two operators race for the newest order in two browsers: one wins, neither lists it after a reload', async () => {
    const s = stack();
    const [id] = await s.mes.insert([{ status: 'PRICE_CALCULATED', createdAt: new Date() }]);
    await crm(s, 'approved', id!);
    const [anna, boris] = [await s.operator('operator-2'), await s.operator('operator-3')];
    await Promise.all([
      anna.goto(`${s.proxy.url}/operators?operator=2`),
      boris.goto(`${s.proxy.url}/operators?operator=3`),
    ]);
    for (const page of [anna, boris]) {
      await waitFor(
        'both operators see the new order at the top',
        async () => {
          await page.reload();
          const first = page.locator('[data-testid="order-row"]').first();
          return (
            (await first.count()) === 1 &&
            (await first.getAttribute('data-order-id')) === String(id)
          );
        },
        { hint: () => stateOf(s) },
      );
    }
    // Both click Take at once.
    const outcomes = await Promise.all([anna, boris].map((page) => take(page, id!)));
    const winners = outcomes.filter((o) => o.outcome === 'taken');
    const losers = outcomes.filter((o) => o.outcome !== 'taken');
    expect(winners).toHaveLength(1);
    expect(losers).toHaveLength(1);
    expect(losers[0]!.outcome).toBe('ORDER_ALREADY_TAKEN');
    expect(losers[0]!.message).toMatch(/already taken by operator [23]/);

    // After a reload, neither page lists it (the proxy removed it on the winner's take).
    for (const page of [anna, boris]) {
      await page.reload();
      expect(await page.locator(`[data-testid="order-row"][data-order-id="${id}"]`).count()).toBe(
        0,
      );
      expect(await page.getByTestId('order-list').getAttribute('data-list-source')).toMatch(/hit/);
    }
    const owner = await s.mes.query<{ operator_id: number; status: string }>(
      'SELECT operator_id, status FROM orders WHERE id = $1',
      [id],
    );
    expect(owner.rows[0]!.status).toBe('MANUFACTURING_STARTED');
    expect(outcomes[[2, 3].indexOf(Number(owner.rows[0]!.operator_id))]!.outcome).toBe('taken');
  });
});
