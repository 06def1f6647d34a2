// The operators' pages the reference MES stands in for: the newest approved orders with a Take
// button (`GET /operators`) and one order (`GET /operators/orders/{id}`). The list is read
// in-process by the same query as `GET /api/orders` (with its legacy slowness), or, with the
// `pagesApiUrl` option, over HTTP from that URL (the cache proxy in front of this MES), so
// operators going through the proxy get the list from its index.
import type { IncomingMessage } from 'node:http';
import { TAKE } from '@meskit/kernel';
import { ApiError } from '../errors.js';
import { isOrderStatus, type Operator, type Order } from '../schema.js';
import type { ApiDeps } from './http.js';
import { reasonOf } from './log.js';
import { getOrder, listOperators, listOrders } from './orders.js';
import { errorPage, listPage, orderPage as renderOrderPage, signInPage } from './pages-html.js';
import type { Reply } from './replies.js';
import { intParam, orderNotFound, requireOrderId } from './validate.js';

/** Orders on one page of the operators' list. */
export const PAGE_SIZE = 20;

/** Where the list is read over HTTP (`pagesApiUrl`), and how long a read may take. */
export interface PagesApi {
  /** The base URL, without a trailing slash. */
  baseUrl: string;
  timeoutMs: number;
}

/**
 * Why `value` cannot be the pages' API base URL, or undefined if it can: an http(s) URL without
 * credentials (fetch refuses them; the proxy would not serve the list from its index to a
 * request carrying them anyway), query or fragment.
 */
export function pagesApiUrlProblem(value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '') return 'it must be a non-empty string';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'it is not a valid URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return `it must start with http:// or https://, got ${url.protocol}//`;
  }
  if (url.username !== '' || url.password !== '') return 'it must not carry credentials';
  if (url.search !== '' || url.hash !== '') return 'it must not have a query or a fragment';
  return undefined;
}

/** The base URL as `<base>/api/orders` is appended to it. */
export function pagesApiBase(value: string): string {
  return new URL(value).href.replace(/\/+$/, '');
}

export async function operatorsPage(
  deps: ApiDeps,
  _req: IncomingMessage,
  url: URL,
): Promise<Reply> {
  const q = url.searchParams;
  const operators = await listOperators(deps.pool);
  const chosen = q.get('operator');
  const operator = findOperator(operators, chosen);
  if (!operator) return signInPage(operators, chosen);
  const page = intParam(q.get('page'), 1);
  if (page === undefined || page < 1) {
    throw new ApiError(400, 'INVALID_PAGE', 'page must be an integer >= 1');
  }
  const api = deps.pagesApi;
  if (!api) {
    // The same query as GET /api/orders, and therefore just as slow on a large table.
    const { items, total } = await listOrders(deps.pool, {
      status: TAKE.from,
      page,
      pageSize: PAGE_SIZE,
    });
    return listPage({ operator, items, total, page, pageSize: PAGE_SIZE, source: 'direct' });
  }
  try {
    const list = await fetchList(api, page);
    return listPage({ operator, ...list, page, pageSize: PAGE_SIZE });
  } catch (err) {
    if (!(err instanceof ListUnavailable)) throw err;
    deps.logger.warn(
      { event: 'pages_api_failed', url: api.baseUrl, reason: err.message },
      'the operators page could not read the orders list',
    );
    return errorPage({ status: 502, code: 'PAGES_API_UNAVAILABLE', message: err.message });
  }
}

export async function orderPage(
  deps: ApiDeps,
  _req: IncomingMessage,
  url: URL,
  params: readonly string[],
): Promise<Reply> {
  const id = requireOrderId(params[0]);
  const order = await getOrder(deps.pool, { id });
  if (!order) throw orderNotFound(id);
  const operators = await listOperators(deps.pool);
  const takenBy =
    order.operatorId === null
      ? undefined
      : (operators.find((o) => o.id === order.operatorId) ?? {
          id: order.operatorId,
          name: `operator ${order.operatorId}`,
        });
  const viewer = findOperator(operators, url.searchParams.get('operator'));
  return renderOrderPage({ order, takenBy, viewer });
}

function findOperator(operators: readonly Operator[], id: string | null): Operator | undefined {
  return id === null ? undefined : operators.find((o) => String(o.id) === id);
}

/** The list could not be read over HTTP; the message says from where and why. */
class ListUnavailable extends Error {}

interface FetchedList {
  items: Order[];
  total: number;
  source: string;
}

async function fetchList(api: PagesApi, page: number): Promise<FetchedList> {
  const query = `status=${TAKE.from}&page=${page}&pageSize=${PAGE_SIZE}`;
  const where = `${api.baseUrl}/api/orders`;
  let status: number;
  let text: string;
  let cacheStatus: string | null;
  try {
    const res = await fetch(`${api.baseUrl}/api/orders?${query}`, {
      headers: { accept: 'application/json' },
      signal: AbortSignal.timeout(api.timeoutMs),
    });
    status = res.status;
    cacheStatus = res.headers.get('cache-status');
    text = await res.text();
  } catch (err) {
    const reason =
      err instanceof Error && err.name === 'TimeoutError'
        ? `no answer within ${api.timeoutMs} ms`
        : fetchFailure(err);
    throw new ListUnavailable(`the orders list at ${where} could not be read: ${reason}`);
  }
  const body = parseJson(text);
  if (status !== 200) {
    const error = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
    const detail =
      typeof error?.message === 'string' ? `: ${String(error.code)} ${error.message}` : '';
    throw new ListUnavailable(`the orders list at ${where} answered ${status}${detail}`);
  }
  const { items, total } = (body ?? {}) as { items?: unknown; total?: unknown };
  if (!Array.isArray(items) || !items.every(isOrder) || !Number.isSafeInteger(total)) {
    throw new ListUnavailable(`the orders list at ${where} answered 200 but not with a list`);
  }
  return { items, total: total as number, source: cacheStatus ?? 'http' };
}

/** fetch's "fetch failed" says nothing; its cause says ECONNREFUSED and where. */
function fetchFailure(err: unknown): string {
  const cause = err instanceof Error ? err.cause : undefined;
  const code = (cause as { code?: unknown } | undefined)?.code;
  const text = reasonOf(cause ?? err);
  return typeof code === 'string' && !text.includes(code) ? `${code} ${text}` : text;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

const nullable = (value: unknown, type: 'string' | 'number'): boolean =>
  value === null || typeof value === type;

/** An order as the API answers it (the proxy answers the MES's own documents). */
function isOrder(value: unknown): value is Order {
  if (typeof value !== 'object' || value === null) return false;
  const o = value as Record<string, unknown>;
  return (
    typeof o['id'] === 'number' &&
    Number.isSafeInteger(o['id']) &&
    typeof o['externalId'] === 'string' &&
    (o['source'] === 'b2c' || o['source'] === 'b2b') &&
    typeof o['status'] === 'string' &&
    isOrderStatus(o['status']) &&
    nullable(o['modelRef'], 'string') &&
    nullable(o['polygonCount'], 'number') &&
    nullable(o['price'], 'number') &&
    typeof o['currency'] === 'string' &&
    nullable(o['operatorId'], 'number') &&
    typeof o['createdAt'] === 'string' &&
    Number.isFinite(Date.parse(o['createdAt'])) &&
    typeof o['updatedAt'] === 'string' &&
    Number.isFinite(Date.parse(o['updatedAt']))
  );
}
