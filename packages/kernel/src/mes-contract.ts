// The MES contract (ARCHITECTURE.md "Contracts between packages"): the order lifecycle, the
// take, the order events on RabbitMQ and their headers. The reference MES builds its schema
// and its events from these names and cache-proxy reads them; a test compares the migrated
// schema with this list, so the two cannot drift apart.

/** Every order status, in lifecycle order (CASE.md). */
export const ORDER_STATUSES = [
  'INITIATED',
  'FILE_UPLOADED',
  'SUBMITTED',
  'PRICE_CALCULATED',
  'MANUFACTURING_APPROVED',
  'MANUFACTURING_STARTED',
  'MANUFACTURING_COMPLETED',
  'PACKAGING',
  'SHIPPED',
  'CLOSED',
] as const;

export type OrderStatus = (typeof ORDER_STATUSES)[number];

export function isOrderStatus(value: unknown): value is OrderStatus {
  return typeof value === 'string' && (ORDER_STATUSES as readonly string[]).includes(value);
}

/**
 * An operator taking an order: `from` is the status the operators' new-orders page lists,
 * `to` the one the take moves it to (and that removes it from the page at once).
 */
export const TAKE = { from: 'MANUFACTURING_APPROVED', to: 'MANUFACTURING_STARTED' } as const;

/** Statuses in which an operator has taken the order (the order has an operator). */
export const TAKEN_STATUSES: ReadonlySet<OrderStatus> = new Set(
  ORDER_STATUSES.slice(ORDER_STATUSES.indexOf(TAKE.to)),
);

/** True when `current` comes before `target` in the lifecycle (the order has not got there yet). */
export function precedes(current: string, target: string): boolean {
  const a = ORDER_STATUSES.indexOf(current as OrderStatus);
  const b = ORDER_STATUSES.indexOf(target as OrderStatus);
  return a >= 0 && b >= 0 && a < b;
}

/** The topic exchange the MES publishes its order events on, unless configured otherwise. */
export const ORDER_EVENTS_EXCHANGE = 'mes.events';

/** `order.<status in lower case>`, e.g. `order.manufacturing_started`. */
export function routingKeyFor(status: OrderStatus): string {
  return `order.${status.toLowerCase()}`;
}

/**
 * `order.manufacturing_approved` -> `MANUFACTURING_APPROVED`; undefined for a key of another
 * shape. A well-formed key of a status this list does not know maps to that name too: the
 * consumer decides what an unknown status means to it.
 */
export function statusOfRoutingKey(routingKey: string): string | undefined {
  const match = /^order\.([a-z_]+)$/.exec(routingKey);
  return match ? match[1]!.toUpperCase() : undefined;
}

/** The JSON body of every order event (routing key `order.<status lower case>`). */
export interface OrderEvent {
  orderId: number;
  externalId: string;
  status: OrderStatus;
  /** Null when the order was created in `status` (a B2B quote starts at PRICE_CALCULATED). */
  previousStatus: OrderStatus | null;
  /** ISO 8601: when the status changed. */
  occurredAt: string;
  /** The operator who took the order, once taken. */
  operatorId?: number;
  price?: number;
}

/** The message headers of order events and the HTTP header of the read-your-writes token. */
export const MESSAGE_HEADERS = {
  /** Stable per message, the idempotency key (also the AMQP `messageId` property). */
  messageId: 'message-id',
  /** W3C trace context. */
  traceparent: 'traceparent',
  tracestate: 'tracestate',
  /**
   * The primary's WAL position after the write that caused the event (or answered the HTTP
   * write), for read-your-writes downstream.
   */
  lsn: 'x-meskit-lsn',
} as const;
