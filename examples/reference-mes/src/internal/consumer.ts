// What the MES does with the messages the shop and the CRM send it.
import { MeskitError } from '@meskit/kernel';
import type pg from 'pg';
import { MesError } from '../errors.js';
import type { Order, OrderStatus } from '../schema.js';
import type { EventSink, MessageHandler } from './bus.js';
import { readModel, resolveModelRef } from './model-store.js';
import { PricingFailure, type Pricer, type PricingOutcome } from './pricing.js';
import { getOrder, insertOrder, transition, type Db, type OrderKey } from './orders.js';
import { isExternalId } from './validate.js';

export type MessageFailureCode =
  | 'MALFORMED_MESSAGE'
  | 'UNKNOWN_ROUTING_KEY'
  | 'ORDER_NOT_FOUND'
  | 'INVALID_TRANSITION'
  | 'MODEL_UNREADABLE'
  | 'INVALID_MODEL'
  | 'MODEL_NOT_PRICEABLE'
  | 'PRICING_UNAVAILABLE'
  | 'PRICING_TIMEOUT';

/** Why a consumed message had no effect; logged and counted in `consumeFailures`. */
export class MessageFailure extends MeskitError<MessageFailureCode> {}

export interface ConsumerDeps {
  pool: pg.Pool;
  modelDir: string;
  pricer: Pricer;
  events: EventSink;
}

export function createMessageHandler(deps: ConsumerDeps): MessageHandler {
  return async (routingKey, content, tx) => {
    const body = parseBody(content);
    switch (routingKey) {
      case 'order.initiated':
        return onInitiated(deps, body, tx);
      case 'order.file_uploaded':
        return onFileUploaded(deps, body, tx);
      case 'order.submitted':
        return onSubmitted(deps, body, tx);
      case 'order.manufacturing_approved':
        return onStatusFromCrm(deps, body, 'PRICE_CALCULATED', 'MANUFACTURING_APPROVED', tx);
      case 'order.closed':
        return onStatusFromCrm(deps, body, 'SHIPPED', 'CLOSED', tx);
      default:
        throw new MessageFailure(
          'UNKNOWN_ROUTING_KEY',
          `no handler for routing key "${routingKey}"`,
        );
    }
  };
}

/** The shop's order, as its messages name it: its external id and its source. */
interface ShopOrder {
  externalId: string;
  source: 'b2c' | 'b2b';
}

function shopOrder(routingKey: string, body: Record<string, unknown>): ShopOrder {
  const { externalId, source = 'b2c' } = body;
  if (!isExternalId(externalId)) {
    throw malformed(
      `${routingKey} needs "externalId": 1-128 letters, digits, ".", "_", ":" or "-"`,
    );
  }
  if (source !== 'b2c' && source !== 'b2b') {
    throw malformed(`${routingKey} "source" must be "b2c" or "b2b"`);
  }
  return { externalId, source };
}

function modelRefOf(deps: ConsumerDeps, routingKey: string, body: Record<string, unknown>): string {
  const { modelRef } = body;
  if (typeof modelRef !== 'string' || !resolveModelRef(deps.modelDir, modelRef)) {
    throw malformed(`${routingKey} needs "modelRef": a relative path inside the model store`);
  }
  return modelRef;
}

/** `order.initiated`: the shop opened an order, no model yet. Idempotent on externalId. */
async function onInitiated(
  deps: ConsumerDeps,
  body: Record<string, unknown>,
  tx: Db | undefined,
): Promise<void> {
  const order = shopOrder('order.initiated', body);
  // An order the MES already knows (a redelivery, or one already further) is left as it is.
  await insertOrder(tx ?? deps.pool, { ...order, status: 'INITIATED', modelRef: null }, true);
}

/**
 * `order.file_uploaded`: the customer's model is in the model store. INITIATED ->
 * FILE_UPLOADED with its modelRef; an order the MES has not seen initiated is recorded from
 * here. A redelivery, or an order already further, changes nothing.
 */
async function onFileUploaded(
  deps: ConsumerDeps,
  body: Record<string, unknown>,
  tx: Db | undefined,
): Promise<void> {
  const order = shopOrder('order.file_uploaded', body);
  const modelRef = modelRefOf(deps, 'order.file_uploaded', body);
  await advanceShopOrder(tx ?? deps.pool, order, modelRef, 'FILE_UPLOADED');
}

/**
 * Brings a shop order to `target` (FILE_UPLOADED or SUBMITTED) through every shop status it has
 * not been in, so its history holds each once; inserts it in `target` when the MES never saw
 * it. Returns the order as it now is.
 */
async function advanceShopOrder(
  db: Db,
  order: ShopOrder,
  modelRef: string,
  target: 'FILE_UPLOADED' | 'SUBMITTED',
): Promise<Order> {
  const created = await insertOrder(db, { ...order, status: target, modelRef }, true);
  if (created) return created;
  const key = { externalId: order.externalId };
  let current = await getOrder(db, key);
  const steps = SHOP_STEPS.slice(0, SHOP_STEPS.findIndex(([, to]) => to === target) + 1);
  for (const [from, to] of steps) {
    if (!current) break;
    if (current.status !== from) continue;
    const moved = await transition(db, key, from, to, { modelRef });
    current =
      moved.kind === 'moved' ? moved.order : moved.kind === 'conflict' ? moved.current : undefined;
  }
  if (!current) {
    throw new MessageFailure('ORDER_NOT_FOUND', `order "${order.externalId}" vanished`);
  }
  return current;
}

/** The statuses the shop sets, as transitions in lifecycle order. */
const SHOP_STEPS: ReadonlyArray<readonly [OrderStatus, 'FILE_UPLOADED' | 'SUBMITTED']> = [
  ['INITIATED', 'FILE_UPLOADED'],
  ['FILE_UPLOADED', 'SUBMITTED'],
];

/**
 * `order.submitted`: record the order (idempotent on externalId; an order the shop announced
 * earlier moves on from INITIATED or FILE_UPLOADED), then price it from the stored model and
 * publish `order.price_calculated`.
 */
async function onSubmitted(
  deps: ConsumerDeps,
  body: Record<string, unknown>,
  tx: Db | undefined,
): Promise<void> {
  const db = tx ?? deps.pool;
  const shop = shopOrder('order.submitted', body);
  const modelRef = modelRefOf(deps, 'order.submitted', body);
  const order = await advanceShopOrder(db, shop, modelRef, 'SUBMITTED');
  // A redelivered submission of an order already priced (or further) changes nothing.
  if (order.status !== 'SUBMITTED') return;

  let model: Buffer;
  try {
    model = await readModel(deps.modelDir, modelRef);
  } catch (err) {
    throw new MessageFailure(
      'MODEL_UNREADABLE',
      `cannot read model "${modelRef}" of order ${order.id}: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
  let quote: PricingOutcome;
  try {
    // LEGACY (deliberate): with the default `legacy` pricing, priced synchronously on the
    // event loop, blocking the HTTP API too.
    quote = await deps.pricer.price(model);
  } catch (err) {
    const code =
      err instanceof PricingFailure
        ? err.code
        : err instanceof MesError && err.code === 'INVALID_MODEL'
          ? err.code
          : undefined;
    if (code === undefined) throw err;
    throw new MessageFailure(code, `order ${order.id}: ${(err as Error).message}`, { cause: err });
  }
  // Not moved: priced concurrently by another MES instance, and nothing to announce.
  await deps.events.write(
    (db) =>
      transition(db, { id: order.id }, 'SUBMITTED', 'PRICE_CALCULATED', {
        polygonCount: quote.triangles,
        price: quote.price,
      }),
    (result) =>
      result.kind === 'moved'
        ? [
            {
              orderId: result.order.id,
              externalId: result.order.externalId,
              status: result.order.status,
              previousStatus: result.previousStatus,
              occurredAt: result.order.updatedAt,
              price: quote.price,
            },
          ]
        : [],
    tx,
  );
}

/**
 * Statuses the CRM sets. The CRM announces them itself, so the MES records them without
 * publishing (its own queue is bound to these keys: republishing would loop).
 */
async function onStatusFromCrm(
  deps: ConsumerDeps,
  body: Record<string, unknown>,
  from: OrderStatus,
  to: OrderStatus,
  tx: Db | undefined,
): Promise<void> {
  const key = orderKey(body);
  const result = await transition(tx ?? deps.pool, key, from, to);
  if (result.kind === 'moved') return;
  const name = 'id' in key ? String(key.id) : `"${key.externalId}"`;
  if (result.kind === 'not_found') {
    throw new MessageFailure('ORDER_NOT_FOUND', `order ${name} does not exist`);
  }
  if (result.current.status === to) return; // A redelivery: already applied.
  throw new MessageFailure(
    'INVALID_TRANSITION',
    `order ${name} is ${result.current.status}; ${to} needs ${from}`,
  );
}

function orderKey(body: Record<string, unknown>): OrderKey {
  const { orderId, externalId } = body;
  if (typeof orderId === 'number' && Number.isSafeInteger(orderId) && orderId > 0) {
    return { id: orderId };
  }
  if (orderId === undefined && isExternalId(externalId)) return { externalId };
  throw malformed('the message needs "orderId" (a positive integer) or "externalId"');
}

/**
 * The order a message is about, for handling one order's messages in the order they came: the
 * shop names it by `externalId` (before the MES has given it an id), the CRM by `orderId`.
 * `undefined` for a body that names neither (it fails in the handler, as malformed).
 */
export function orderKeyOf(content: Buffer): string | undefined {
  let body: unknown;
  try {
    body = JSON.parse(content.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof body !== 'object' || body === null) return undefined;
  const { externalId, orderId } = body as { externalId?: unknown; orderId?: unknown };
  if (typeof externalId === 'string') return `external:${externalId}`;
  if (typeof orderId === 'number' || typeof orderId === 'string') return `order:${orderId}`;
  return undefined;
}

function parseBody(content: Buffer): Record<string, unknown> {
  let body: unknown;
  try {
    body = JSON.parse(content.toString('utf8'));
  } catch (err) {
    throw new MessageFailure('MALFORMED_MESSAGE', 'the message body is not valid JSON', {
      cause: err,
    });
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw malformed('the message body must be a JSON object');
  }
  return body as Record<string, unknown>;
}

function malformed(message: string): MessageFailure {
  return new MessageFailure('MALFORMED_MESSAGE', message);
}
