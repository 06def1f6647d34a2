// The shop, the CRM and the operators, end to end, on the real servers and in real browsers:
// a B2B quote from a real model file goes through the MES's statuses with the take clicked on
// the operators' page (through cache-proxy), and two operators race for the newest order in
// two browsers: one wins, the other is told, and after a reload neither lists it. Assertions
// are on what people see: the price, the pages, the statuses.
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@meskit/testkit';
import { screenshotAll, startStack, type Stack } from './support/stack.js';

const MODEL = readFileSync(new URL('../../api/fixtures/cube.stl', import.meta.url));

let stack: Stack | undefined;

beforeAll(async () => {
  stack = await startStack();
});

afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail') {
    const files = await screenshotAll(stack, ctx.task.name);
    console.log(`screenshots of the failure: ${files.join(', ') || 'none (no page open)'}`);
  }
  for (const page of stack?.pages.values() ?? []) await page.context().close();
  stack?.pages.clear();
});

afterAll(async () => {
  await stack?.close();
});

function s(): Stack {
  if (!stack) throw new Error('the stack did not start');
  return stack;
}

async function json(res: Response): Promise<Record<string, unknown>> {
  return (await res.json()) as Record<string, unknown>;
}

/** The CRM approving a priced order, as it does over RabbitMQ. */
async function approve(orderId: number): Promise<void> {
  await s().mes.publish('order.manufacturing_approved', {
    orderId,
    occurredAt: new Date().toISOString(),
  });
}

async function statusOf(orderId: number): Promise<string> {
  return String((await json(await fetch(`${s().proxy.url}/api/orders/${orderId}`)))['status']);
}

describe('the shop, the CRM and the operators', () => {
  it("a B2B quote from a real model goes through the MES's statuses, taken on the operators' page", async () => {
    const { proxy } = s();
    // The shop asks for a quote with the customer's model (through the proxy, as any client).
    const quoted = await fetch(
      `${proxy.url}/api/b2b/orders?externalId=e2e-${Date.now()}&filename=cube.stl`,
      { method: 'POST', headers: { 'content-type': 'model/stl' }, body: MODEL },
    );
    expect(quoted.status).toBe(201);
    const order = await json(quoted);
    const id = Number(order['id']);
    expect(order['status']).toBe('PRICE_CALCULATED');
    expect(Number(order['price'])).toBeGreaterThan(0);
    const shownPrice = `${Number(order['price']).toFixed(2)} ${String(order['currency'])}`;

    // The CRM approves it; it appears on the operators' page, newest first, with its price.
    await approve(id);
    await waitFor(
      'the MES approved the order',
      async () => (await statusOf(id)) === 'MANUFACTURING_APPROVED',
    );
    const page = await s().operator('operator-1');
    await page.goto(`${proxy.url}/operators?operator=1`);
    const row = page.locator(`[data-testid="order-row"][data-order-id="${id}"]`);
    await waitFor('the page lists the approved order', async () => {
      await page.reload();
      return (await row.count()) === 1;
    });
    expect(
      await page.locator('[data-testid="order-row"]').first().getAttribute('data-order-id'),
    ).toBe(String(id));
    expect((await row.getByTestId('order-price').innerText()).trim()).toBe(shownPrice);
    expect(await page.getByTestId('order-list').getAttribute('data-list-source')).toMatch(
      /^meskit;/,
    );

    // The operator takes it.
    await row.getByTestId('take-button').click();
    const outcome = row.getByTestId('take-outcome');
    await waitFor(
      'the take answered',
      async () => (await outcome.getAttribute('data-outcome')) !== null,
    );
    expect(await outcome.getAttribute('data-outcome')).toBe('taken');
    expect(await row.getByTestId('take-message').innerText()).toBe('Taken by you.');

    // The order page follows it through manufacturing, packaging, shipping and closing.
    const orderPage = await s().operator('order-page');
    const shown = async (): Promise<string> => {
      await orderPage.goto(`${proxy.url}/operators/orders/${id}?operator=1`);
      return (await orderPage.getByTestId('order-status').innerText()).trim();
    };
    expect(await shown()).toBe('MANUFACTURING_STARTED');
    expect((await orderPage.getByTestId('order-price').innerText()).trim()).toBe(shownPrice);
    for (const [step, status] of [
      ['complete', 'MANUFACTURING_COMPLETED'],
      ['package', 'PACKAGING'],
      ['ship', 'SHIPPED'],
    ] as const) {
      const res = await fetch(`${proxy.url}/api/orders/${id}/${step}`, { method: 'POST' });
      expect(res.status, step).toBe(200);
      expect(await shown()).toBe(status);
    }
    await s().mes.publish('order.closed', { orderId: id, occurredAt: new Date().toISOString() });
    await waitFor('the order page shows it closed', async () => (await shown()) === 'CLOSED');

    // Every status it went through, once each, in order.
    const history = await s().mes.query<{ to_status: string }>(
      'SELECT to_status FROM order_status_history WHERE order_id = $1 ORDER BY id',
      [id],
    );
    expect(history.rows.map((r) => r.to_status)).toEqual([
      'PRICE_CALCULATED',
      'MANUFACTURING_APPROVED',
      'MANUFACTURING_STARTED',
      'MANUFACTURING_COMPLETED',
      'PACKAGING',
      'SHIPPED',
      'CLOSED',
    ]);
  });

  it('two operators race for the newest order in two browsers: one wins, neither lists it after a reload', async () => {
    const { proxy, mes } = s();
    const [id] = await mes.insert([{ status: 'PRICE_CALCULATED', createdAt: new Date() }]);
    await approve(id!);
    const [anna, boris] = [await s().operator('operator-2'), await s().operator('operator-3')];
    await Promise.all([
      anna.goto(`${proxy.url}/operators?operator=2`),
      boris.goto(`${proxy.url}/operators?operator=3`),
    ]);
    const rowOf = (page: typeof anna) =>
      page.locator(`[data-testid="order-row"][data-order-id="${id}"]`);
    for (const page of [anna, boris]) {
      await waitFor('both operators see the new order at the top', async () => {
        await page.reload();
        const first = page.locator('[data-testid="order-row"]').first();
        return (
          (await first.count()) === 1 && (await first.getAttribute('data-order-id')) === String(id)
        );
      });
    }
    // Both click Take at once.
    await Promise.all([anna, boris].map((page) => rowOf(page).getByTestId('take-button').click()));
    const outcomes = await Promise.all(
      [anna, boris].map(async (page) => {
        const outcome = rowOf(page).getByTestId('take-outcome');
        await waitFor(
          'the take answered',
          async () => (await outcome.getAttribute('data-outcome')) !== null,
        );
        return {
          outcome: await outcome.getAttribute('data-outcome'),
          message: await rowOf(page).getByTestId('take-message').innerText(),
        };
      }),
    );
    const winners = outcomes.filter((o) => o.outcome === 'taken');
    const losers = outcomes.filter((o) => o.outcome !== 'taken');
    expect(winners).toHaveLength(1);
    expect(losers).toHaveLength(1);
    expect(losers[0]!.outcome).toBe('ORDER_ALREADY_TAKEN');
    expect(losers[0]!.message).toMatch(/already taken by operator [23]/);

    // After a reload, neither page lists it (the proxy removed it on the winner's take).
    for (const page of [anna, boris]) {
      await page.reload();
      expect(await rowOf(page).count()).toBe(0);
      expect(await page.getByTestId('order-list').getAttribute('data-list-source')).toMatch(/hit/);
    }
    const owner = await mes.query<{ operator_id: number; status: string }>(
      'SELECT operator_id, status FROM orders WHERE id = $1',
      [id],
    );
    expect(owner.rows[0]!.status).toBe('MANUFACTURING_STARTED');
    expect(outcomes[[2, 3].indexOf(Number(owner.rows[0]!.operator_id))]!.outcome).toBe('taken');
  });
});
