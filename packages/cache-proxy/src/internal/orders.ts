// The MES's order documents as the proxy reads them: list items, the list answer, and the page
// rendered in the MES's exact shape.
import type { FetchedAnswer } from './forward.js';
import { memberOf, type IndexItem } from './store.js';

export interface OrderItem {
  id: number;
  createdAt: string;
  status?: unknown;
}

export function isOrderItem(value: unknown): value is OrderItem {
  if (typeof value !== 'object' || value === null) return false;
  const { id, createdAt } = value as Record<string, unknown>;
  return (
    typeof id === 'number' &&
    Number.isSafeInteger(id) &&
    id > 0 &&
    typeof createdAt === 'string' &&
    Number.isFinite(Date.parse(createdAt))
  );
}

export function toIndexItem(order: OrderItem): IndexItem {
  return {
    member: memberOf(order.id),
    score: Date.parse(order.createdAt),
    doc: JSON.stringify(order),
  };
}

/** One list answer of the MES: its items (newest first), total and content type. */
export interface Snapshot {
  items: OrderItem[];
  total: number;
  contentType: string;
}

export const JSON_TYPE = 'application/json; charset=utf-8';

/** The MES's list answer, or undefined when it is not one (then nothing is cached from it). */
export function parseList(answer: FetchedAnswer): Snapshot | undefined {
  try {
    const body = JSON.parse(answer.body.toString('utf8')) as Record<string, unknown>;
    const { items, total } = body;
    if (!Array.isArray(items) || !items.every(isOrderItem)) return undefined;
    if (typeof total !== 'number' || !Number.isSafeInteger(total) || total < items.length)
      return undefined;
    return { items, total, contentType: answer.contentType ?? JSON_TYPE };
  } catch {
    return undefined;
  }
}

/** The MES's exact shape: its items verbatim, then page, pageSize, total. */
export function renderPage(
  page: number,
  pageSize: number,
  total: number,
  docs: readonly string[],
): Buffer {
  return Buffer.from(
    `{"items":[${docs.join(',')}],"page":${page},"pageSize":${pageSize},"total":${total}}`,
  );
}
