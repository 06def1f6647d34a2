// What the shop, the CRM and the operators do, as the journeys use it: a B2B quote with a real
// model file, a shop order announced over RabbitMQ from its first status, the CRM's approval and
// closing over RabbitMQ, the order page as a person reads it.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import amqp, { type ConfirmChannel } from 'amqplib';
import { MESSAGE_HEADERS, ORDER_STATUSES } from '@meskit/kernel';
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
  /** Which pricing engine the MES used (the B2B answer says; `runner` is pricing-runner). */
  engine: string | undefined;
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
  return toQuote(body);
}

/** An order as the MES's API answers it, with its price as the pages show it. */
function toQuote(body: Record<string, unknown>): Quote {
  const price = Number(body['price']);
  return {
    id: Number(body['id']),
    status: String(body['status']),
    price,
    shownPrice: `${price.toFixed(2)} ${String(body['currency'])}`,
    engine: (body['pricing'] as { engine?: string } | undefined)?.engine,
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
  await announce(stack, key, { orderId });
}

/**
 * One message of the shop or the CRM, published and confirmed on a connection of its own;
 * `headers` go with it (a journey's traceparent).
 */
async function announce(
  stack: Stack,
  key: string,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<void> {
  const connection = await amqp.connect(stack.amqpUrl);
  try {
    await publishConfirmed(await connection.createConfirmChannel(), stack, key, body, headers);
  } finally {
    await connection.close();
  }
}

async function publishConfirmed(
  channel: ConfirmChannel,
  stack: Stack,
  key: string,
  body: Record<string, unknown>,
  headers: Record<string, string>,
): Promise<void> {
  const content = { ...body, occurredAt: new Date().toISOString() };
  channel.publish(stack.mes.exchange, key, Buffer.from(JSON.stringify(content)), {
    persistent: true,
    contentType: 'application/json',
    messageId: `${key}-${String(body['orderId'] ?? body['externalId'])}`,
    headers,
  });
  await channel.waitForConfirms();
}

/** How long the shop waits for the MES's price event before the journey fails. */
const PRICED_WITHIN_MS = 30_000;

/**
 * A shop order from its first status: the shop opens it (INITIATED), stores the customer's
 * model in the MES's model store (FILE_UPLOADED) and submits it (SUBMITTED), announcing each
 * over RabbitMQ; resolves with the MES's price event as the CRM receives it (PRICE_CALCULATED).
 */
export async function shopOrder(
  stack: Stack,
  externalId: string,
  headers: Record<string, string> = {},
): Promise<Quote> {
  const connection = await amqp.connect(stack.amqpUrl);
  try {
    // The CRM's side: its queue is bound before the shop says anything.
    const channel = await connection.createChannel();
    const { queue } = await channel.assertQueue('', { exclusive: true });
    await channel.bindQueue(queue, stack.mes.exchange, 'order.price_calculated');
    let timer: NodeJS.Timeout | undefined;
    const priced = new Promise<{ event: Record<string, unknown>; lsn: string | undefined }>(
      (resolve, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new Error(
                `the MES published no order.price_calculated for ${externalId} within ${PRICED_WITHIN_MS} ms`,
              ),
            ),
          PRICED_WITHIN_MS,
        );
        void channel.consume(queue, (message) => {
          if (!message) return;
          const event = JSON.parse(message.content.toString('utf8')) as Record<string, unknown>;
          const lsn = (message.properties.headers ?? {})[MESSAGE_HEADERS.lsn] as unknown;
          if (event['externalId'] === externalId)
            resolve({ event, lsn: typeof lsn === 'string' ? lsn : undefined });
        });
      },
    );
    // The shop's messages, in order, on one confirm channel.
    const shop = await connection.createConfirmChannel();
    const say = (key: string, body: Record<string, unknown>) =>
      publishConfirmed(shop, stack, key, body, headers);
    await say('order.initiated', { externalId, source: 'b2c' });
    const modelRef = `shop/${externalId}.stl`;
    await mkdir(join(stack.mes.modelDir, 'shop'), { recursive: true });
    await writeFile(join(stack.mes.modelDir, modelRef), MODEL);
    await say('order.file_uploaded', { externalId, modelRef });
    await say('order.submitted', { externalId, source: 'b2c', modelRef });
    const { event, lsn } = await priced.finally(() => clearTimeout(timer));
    // What the shop then shows its customer: the order as the MES's API answers it, read no
    // older than the write the event announced (the MES reads a replica through db-router).
    const res = await fetch(`${stack.proxy.url}/api/orders/${String(event['orderId'])}`, {
      headers: lsn ? { [MESSAGE_HEADERS.lsn]: lsn } : {},
    });
    const body = (await res.json()) as Record<string, unknown>;
    if (res.status !== 200 || body['price'] !== event['price'])
      throw new Error(
        `the order answered ${res.status} ${JSON.stringify(body)} after ${JSON.stringify(event)}`,
      );
    return toQuote(body);
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

/** Where a B2B quote goes (it starts priced), as the history records it. */
export const LIFECYCLE_FROM_QUOTE: readonly string[] = ORDER_STATUSES.slice(
  ORDER_STATUSES.indexOf('PRICE_CALCULATED'),
);

/** Where a shop order goes: all ten statuses of the MES contract, in order. */
export const LIFECYCLE: readonly string[] = ORDER_STATUSES;

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
