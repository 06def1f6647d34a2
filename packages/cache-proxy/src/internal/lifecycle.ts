// The MES's order lifecycle (the event contract of ARCHITECTURE.md), in order.
export const LIFECYCLE = [
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

/** The status a take moves an order out of: the one the new-orders page lists. */
export const TAKE_FROM = 'MANUFACTURING_APPROVED';

/** True when `current` comes before `target` in the lifecycle (the order has not got there yet). */
export function precedes(current: string, target: string): boolean {
  const a = LIFECYCLE.indexOf(current as (typeof LIFECYCLE)[number]);
  const b = LIFECYCLE.indexOf(target as (typeof LIFECYCLE)[number]);
  return a >= 0 && b >= 0 && a < b;
}

/** `order.manufacturing_approved` -> `MANUFACTURING_APPROVED`; undefined for other keys. */
export function statusOfRoutingKey(routingKey: string): string | undefined {
  const match = /^order\.([a-z_]+)$/.exec(routingKey);
  return match ? match[1]!.toUpperCase() : undefined;
}
