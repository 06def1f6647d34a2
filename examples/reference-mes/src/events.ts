// The order-event contract (ARCHITECTURE.md) lives in the kernel, shared with cache-proxy; the
// MES adds which routing keys it consumes.
export { routingKeyFor } from '@meskit/kernel';
export type { OrderEvent } from '@meskit/kernel';

/** The routing keys the MES consumes (from the shop and the CRM). */
export const CONSUMED_ROUTING_KEYS = [
  'order.initiated',
  'order.file_uploaded',
  'order.submitted',
  'order.manufacturing_approved',
  'order.closed',
] as const;
