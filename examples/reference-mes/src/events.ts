// The order-event contract (ARCHITECTURE.md): what the MES publishes on the topic exchange.
import type { OrderStatus } from './schema.js';

/** The body of every event the MES publishes (routing key `order.<status lower case>`). */
export interface OrderEvent {
  orderId: number;
  externalId: string;
  status: OrderStatus;
  /** Null when the order was created in `status` (a B2B quote starts at PRICE_CALCULATED). */
  previousStatus: OrderStatus | null;
  /** ISO 8601: when the status changed (the order's updated_at). */
  occurredAt: string;
  /** The operator who took the order, once taken. */
  operatorId?: number;
  price?: number;
}

/** `order.<status in lower case>`, e.g. `order.manufacturing_started`. */
export function routingKeyFor(status: OrderStatus): string {
  return `order.${status.toLowerCase()}`;
}

/** The routing keys the MES consumes (from the shop and the CRM). */
export const CONSUMED_ROUTING_KEYS = [
  'order.submitted',
  'order.manufacturing_approved',
  'order.closed',
] as const;
