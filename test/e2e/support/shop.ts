// What the shop, the CRM and the operators do, as the journeys use it: a B2B quote with a real
// model file, the CRM's approval and closing over RabbitMQ, the order page as a person reads it.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import amqp from 'amqplib';
import { ORDER_STATUSES } from '@meskit/kernel';
import type { Page } from 'playwright-core';
import type { Stack } from './stack.js';

const MODEL = readFileSync(new URL('../../../api/fixtures/cube.stl', import.meta.url));

/** A W3C traceparent of a fresh trace (sampled), to carry one journey's requests. */
export function newTraceparent(): { traceId: string; traceparent: string } {
  const traceId = randomBytes(16).toString('hex');
  return { traceId, traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` };
}

export interface Quote {
  id: number;
  status: string;
  price: number;
  /** The price as the pages show it, e.g. `624.01 EUR`. */
  shownPrice: string;
}

/** The shop's B2B quote of a real model (through the proxy, as any client). */
export async function quote(
  stack: Stack,
  externalId: string,
  headers: Record<string, string> = {},
): Promise<Quote> {
  const res = await fetch(
    `${stack.proxy.url}/api/b2b/orders?externalId=${encodeURIComponent(externalId)}&filename=cube.stl`,
    { method: 'POST', headers: { 'content-type': 'model/stl', ...headers }, body: MODEL },
  );
  const body = (await res.json()) as Record<string, unknown>;
  if (res.status !== 201)
    throw new Error(`the quote answered ${res.status}: ${JSON.stringify(body)}`);
  const price = Number(body['price']);
  return {
    id: Number(body['id']),
    status: String(body['status']),
    price,
    shownPrice: `${price.toFixed(2)} ${String(body['currency'])}`,
  };
}

/**
 * The CRM's event for an order (`order.manufacturing_approved` or `order.closed`), published
 * and confirmed on a connection of its own, as the CRM would after a broker restart.
 */
export async function crm(
  stack: Stack,
  event: 'approved' | 'closed',
  orderId: number,
): Promise<void> {
  const key = event === 'approved' ? 'order.manufacturing_approved' : 'order.closed';
  const connection = await amqp.connect(stack.amqpUrl);
  try {
    const channel = await connection.createConfirmChannel();
    const body = Buffer.from(JSON.stringify({ orderId, occurredAt: new Date().toISOString() }));
    channel.publish(stack.mes.exchange, key, body, {
      persistent: true,
      contentType: 'application/json',
      messageId: `crm-${key}-${orderId}`,
    });
    await channel.waitForConfirms();
  } finally {
    await connection.close();
  }
}

export async function statusOf(stack: Stack, orderId: number): Promise<string> {
  const res = await fetch(`${stack.proxy.url}/api/orders/${orderId}`);
  return String(((await res.json()) as Record<string, unknown>)['status']);
}

/** The status the order page shows, freshly loaded. */
export async function shownStatus(stack: Stack, page: Page, orderId: number): Promise<string> {
  await page.goto(`${stack.proxy.url}/operators/orders/${orderId}?operator=1`);
  return (await page.getByTestId('order-status').innerText()).trim();
}

/** The statuses the order went through, in order, from the MES's history table. */
export async function history(stack: Stack, orderId: number): Promise<string[]> {
  const rows = await stack.mes.query<{ to_status: string }>(
    'SELECT to_status FROM order_status_history WHERE order_id = $1 ORDER BY id',
    [orderId],
  );
  return rows.rows.map((r) => r.to_status);
}

/** Where the order goes from the quote on (the MES contract's statuses), as the history records it. */
export const LIFECYCLE_FROM_QUOTE: readonly string[] = ORDER_STATUSES.slice(
  ORDER_STATUSES.indexOf('PRICE_CALCULATED'),
);

/** Clicks Take on the order's row and resolves with what the row then says. */
export async function take(
  page: Page,
  orderId: number,
): Promise<{ outcome: string | null; message: string }> {
  const row = page.locator(`[data-testid="order-row"][data-order-id="${orderId}"]`);
  await row.getByTestId('take-button').click();
  const outcome = row.getByTestId('take-outcome');
  // `pending` while the take is in flight, then `taken` or the API's error code.
  await outcome.and(page.locator('[data-outcome]:not([data-outcome="pending"])')).waitFor();
  return {
    outcome: await outcome.getAttribute('data-outcome'),
    message: await row.getByTestId('take-message').innerText(),
  };
}
