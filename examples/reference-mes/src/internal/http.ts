// The MES HTTP API on node:http: a small route table, JSON in and out, typed errors; and the
// operators' pages (HTML, rendered by pages.ts) on the same table.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type pg from 'pg';
import { MESSAGE_HEADERS, TAKE, type OrderEvent } from '@meskit/kernel';
import { ApiError } from '../errors.js';
import type { MesStats } from '../mes.js';
import { parseModel } from '../pricing/parse.js';
import {
  ORDER_STATUSES,
  TAKEN_STATUSES,
  isOrderStatus,
  type Order,
  type OrderStatus,
} from '../schema.js';
import type { EventSink } from './bus.js';
import { describeError, sqlState } from './db.js';
import type { Logger } from './log.js';
import type { DbContext } from './read-your-writes.js';
import { sanitizeFilename, saveModel } from './model-store.js';
import { operatorsPage, orderPage, type PagesApi } from './pages.js';
import { PricingFailure, type Pricer, type PricingOutcome } from './pricing.js';
import { errorReply, send, type Reply } from './replies.js';
import {
  getOrder,
  insertOrder,
  listOperators,
  listOrders,
  operatorExists,
  transition,
  type TransitionResult,
} from './orders.js';
import { compilePath, type CompiledPath, type RouteMethod } from './routes.js';
import {
  intParam,
  isExternalId,
  orderNotFound as notFound,
  requireOrderId as orderId,
} from './validate.js';

export interface ApiDeps {
  pool: pg.Pool;
  modelDir: string;
  pricer: Pricer;
  maxUploadBytes: number;
  events: EventSink;
  stats: () => MesStats;
  logger: Logger;
  /** With db-router: each request a read-your-writes context (`x-meskit-lsn`). */
  db?: DbContext | undefined;
  /** Where the operators' page reads its list over HTTP; undefined: in-process. */
  pagesApi?: PagesApi | undefined;
}

type Params = readonly string[];
type Handler = (deps: ApiDeps, req: IncomingMessage, url: URL, params: Params) => Promise<Reply>;
interface RouteSpec {
  method: RouteMethod;
  /** OpenAPI-style template (`/api/orders/{id}`), as openapi.yaml spells it. */
  path: string;
  handler: Handler;
  /** A page: its errors are answered as HTML pages too. */
  html?: boolean;
}
type Route = RouteSpec & CompiledPath;

const JSON_BODY_LIMIT = 16 * 1024;
const MODEL_CONTENT_TYPES = new Set([
  'application/octet-stream',
  'model/stl',
  'model/obj',
  'text/plain',
]);

/** Manufacturing steps after the take: path segment -> the transition it performs. */
const STEPS: Record<string, { from: OrderStatus; to: OrderStatus }> = {
  complete: { from: 'MANUFACTURING_STARTED', to: 'MANUFACTURING_COMPLETED' },
  package: { from: 'MANUFACTURING_COMPLETED', to: 'PACKAGING' },
  ship: { from: 'PACKAGING', to: 'SHIPPED' },
};

const ROUTE_SPECS: readonly RouteSpec[] = [
  { method: 'GET', path: '/health', handler: health },
  { method: 'GET', path: '/api/orders', handler: list },
  { method: 'GET', path: '/api/orders/{id}', handler: getOne },
  { method: 'POST', path: '/api/orders/{id}/take', handler: take },
  { method: 'POST', path: '/api/orders/{id}/{step}', handler: step },
  { method: 'POST', path: '/api/b2b/orders', handler: createB2bOrder },
  { method: 'GET', path: '/api/operators', handler: operators },
  { method: 'GET', path: '/internal/stats', handler: stats },
  { method: 'GET', path: '/operators', handler: operatorsPage, html: true },
  { method: 'GET', path: '/operators/orders/{id}', handler: orderPage, html: true },
];

const ROUTES: readonly Route[] = ROUTE_SPECS.map((spec) => ({
  ...spec,
  ...compilePath(spec.path, { step: Object.keys(STEPS) }),
}));

/**
 * Every route the MES serves, as openapi.yaml lists it: OpenAPI-style paths, `{step}` expanded
 * into its three steps. Derived from the route table, so it cannot drift from it.
 */
export const MES_ROUTES: ReadonlyArray<{ readonly method: RouteMethod; readonly path: string }> =
  Object.freeze(
    ROUTES.flatMap((route) =>
      route.expanded.map((path) => Object.freeze({ method: route.method, path })),
    ),
  );

/** What the request log line reports about a request beyond its method and status. */
interface RequestInfo {
  /** The matched route's name; undefined when no route matched (404, 405). */
  route: string | undefined;
  /** The matched route is a page: an error is answered as an HTML page. */
  html: boolean;
}

export function createRequestListener(
  deps: ApiDeps,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const started = process.hrtime.bigint();
    const info: RequestInfo = { route: undefined, html: false };
    // 'close' comes once per response, after the last byte or when the client went away.
    res.once('close', () => logRequest(deps.logger, req, res, info, started));
    const db = deps.db;
    const work = db
      ? async () => {
          const token = req.headers[MESSAGE_HEADERS.lsn];
          return db.run(Array.isArray(token) ? token[0] : token, async () => {
            const reply = await handle(deps, req, info);
            // A write's answer says how far the client's next reads must see.
            if (req.method !== 'POST' || reply.status >= 300) return reply;
            const lsn = await db.token();
            return lsn
              ? { ...reply, headers: { ...reply.headers, [MESSAGE_HEADERS.lsn]: lsn } }
              : reply;
          });
        }
      : () => handle(deps, req, info);
    work()
      .then((reply) => send(res, reply))
      .catch((err: unknown) => send(res, errorReply(deps.logger, err, req, info.html)));
  };
}

/** One line per request, at info: method, route, status and duration. */
function logRequest(
  logger: Logger,
  req: IncomingMessage,
  res: ServerResponse,
  info: RequestInfo,
  started: bigint,
): void {
  const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
  const method = req.method ?? '?';
  const route = info.route ?? null;
  logger.info(
    {
      event: 'request',
      method,
      route,
      status: res.statusCode,
      durationMs: Math.round(durationMs * 1000) / 1000,
      ...(res.writableFinished ? {} : { aborted: true }),
    },
    `${method} ${route ?? '(no route)'} ${res.statusCode}`,
  );
}

async function handle(deps: ApiDeps, req: IncomingMessage, info: RequestInfo): Promise<Reply> {
  const url = new URL(req.url ?? '/', 'http://mes.invalid');
  const matching = ROUTES.flatMap((route) => {
    const match = route.pattern.exec(url.pathname);
    return match ? [{ route, params: match.slice(1).map((p) => decodeURIComponent(p)) }] : [];
  });
  if (matching.length === 0) {
    throw new ApiError(404, 'NOT_FOUND', `no such endpoint: ${url.pathname}`);
  }
  const hit = matching.find((m) => m.route.method === req.method);
  if (!hit) {
    const allowed = [...new Set(matching.map((m) => m.route.method))].join(', ');
    info.route = matching[0]?.route.name;
    info.html = matching[0]?.route.html ?? false;
    throw new ApiError(
      405,
      'METHOD_NOT_ALLOWED',
      `${req.method ?? '?'} is not allowed here; use ${allowed}`,
      { headers: { allow: allowed } },
    );
  }
  info.route = hit.route.name;
  info.html = hit.route.html ?? false;
  return hit.route.handler(deps, req, url, hit.params);
}

async function health(deps: ApiDeps): Promise<Reply> {
  try {
    await deps.pool.query('SELECT 1');
    return { status: 200, body: { status: 'ok' } };
  } catch (err) {
    return {
      status: 503,
      body: {
        status: 'unavailable',
        error: {
          code: 'DATABASE_UNAVAILABLE',
          message: `database check failed: ${describeError(err)}`,
        },
      },
    };
  }
}

async function list(deps: ApiDeps, _req: IncomingMessage, url: URL): Promise<Reply> {
  const q = url.searchParams;
  const statusParam = q.get('status');
  if (statusParam !== null && !isOrderStatus(statusParam)) {
    throw new ApiError(
      400,
      'INVALID_STATUS',
      `unknown status "${statusParam}"; use one of ${ORDER_STATUSES.join(', ')}`,
    );
  }
  const page = intParam(q.get('page'), 1);
  if (page === undefined || page < 1) {
    throw new ApiError(400, 'INVALID_PAGE', 'page must be an integer >= 1');
  }
  const pageSize = intParam(q.get('pageSize'), 20);
  if (pageSize === undefined || pageSize < 1 || pageSize > 100) {
    throw new ApiError(400, 'INVALID_PAGE_SIZE', 'pageSize must be an integer from 1 to 100');
  }
  const { items, total } = await listOrders(deps.pool, {
    status: statusParam ?? undefined,
    page,
    pageSize,
  });
  return { status: 200, body: { items, page, pageSize, total } };
}

async function getOne(
  deps: ApiDeps,
  _req: IncomingMessage,
  _url: URL,
  params: Params,
): Promise<Reply> {
  const id = orderId(params[0]);
  const order = await getOrder(deps.pool, { id });
  if (!order) throw notFound(id);
  return { status: 200, body: order };
}

async function take(
  deps: ApiDeps,
  req: IncomingMessage,
  _url: URL,
  params: Params,
): Promise<Reply> {
  const id = orderId(params[0]);
  const body = await readJson(req);
  const operatorId = body?.['operatorId'];
  if (typeof operatorId !== 'number' || !Number.isSafeInteger(operatorId) || operatorId < 1) {
    throw new ApiError(
      400,
      'INVALID_OPERATOR',
      'the body must be {"operatorId": <positive integer>}',
    );
  }
  if (!(await operatorExists(deps.pool, operatorId))) {
    throw new ApiError(400, 'UNKNOWN_OPERATOR', `operator ${operatorId} does not exist`);
  }
  const result = await deps.events.write(
    (db) => transition(db, { id }, TAKE.from, TAKE.to, { operatorId }),
    movedEvents,
  );
  if (result.kind === 'not_found') throw notFound(id);
  if (result.kind === 'conflict') {
    const { current } = result;
    if (TAKEN_STATUSES.has(current.status)) {
      throw new ApiError(
        409,
        'ORDER_ALREADY_TAKEN',
        `order ${id} was already taken by operator ${current.operatorId ?? 'unknown'}`,
      );
    }
    throw new ApiError(
      409,
      'ORDER_NOT_AVAILABLE',
      `order ${id} is ${current.status}; only ${TAKE.from} orders can be taken`,
    );
  }
  return { status: 200, body: result.order };
}

async function step(
  deps: ApiDeps,
  req: IncomingMessage,
  _url: URL,
  params: Params,
): Promise<Reply> {
  const id = orderId(params[0]);
  const action = params[1] ?? '';
  const move = STEPS[action];
  if (!move) throw new ApiError(404, 'NOT_FOUND', `no such action: ${action}`);
  await readJson(req); // The body is optional and unused; reading it keeps the socket reusable.
  const result = await deps.events.write(
    (db) => transition(db, { id }, move.from, move.to),
    movedEvents,
  );
  if (result.kind === 'not_found') throw notFound(id);
  if (result.kind === 'conflict') {
    throw new ApiError(
      409,
      'INVALID_TRANSITION',
      `order ${id} is ${result.current.status}; ${action} needs ${move.from}`,
    );
  }
  return { status: 200, body: result.order };
}

/**
 * A B2B partner prices an item. LEGACY (deliberate): with the default `legacy` pricing it runs
 * synchronously inside the request, blocking the event loop (every other request waits) for
 * seconds. The `offload` and `runner` modes price through @meskit/pricing-runner instead and
 * add `pricing: { engine, cached, durationMs }` to the answer.
 */
async function createB2bOrder(deps: ApiDeps, req: IncomingMessage, url: URL): Promise<Reply> {
  const externalId = url.searchParams.get('externalId');
  if (!isExternalId(externalId)) {
    throw new ApiError(
      400,
      'INVALID_EXTERNAL_ID',
      'externalId is required: 1-128 letters, digits, ".", "_", ":" or "-"',
    );
  }
  const filename = sanitizeFilename(url.searchParams.get('filename') ?? 'model.stl');
  if (!filename) throw new ApiError(400, 'INVALID_FILENAME', 'filename must name a file');
  const contentType = (req.headers['content-type'] ?? 'application/octet-stream')
    .split(';')[0]!
    .trim()
    .toLowerCase();
  if (!MODEL_CONTENT_TYPES.has(contentType)) {
    req.resume();
    throw new ApiError(
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      `Content-Type ${contentType} is not a model; use ${[...MODEL_CONTENT_TYPES].join(', ')}`,
    );
  }
  const data = await readBody(req, deps.maxUploadBytes);
  const legacy = deps.pricer.mode === 'legacy';
  // Parse first: a bad model is answered at once, not after seconds of pricing. The runner
  // modes leave reading the model to the runner (off the event loop, and it reads 3MF too).
  if (legacy) parseModel(data);
  if (await getOrder(deps.pool, { externalId })) throw duplicate(externalId);

  // Saved before pricing: the runner may hand `data` to a worker thread (detaching it).
  const stored = await saveModel(deps.modelDir, 'b2b', filename, data);
  try {
    const quote = await deps.pricer.price(data).catch((err: unknown) => {
      throw err instanceof PricingFailure ? pricingError(err) : err;
    });
    const order = await deps.events.write(
      (db) =>
        insertOrder(db, {
          externalId,
          source: 'b2b',
          status: 'PRICE_CALCULATED',
          modelRef: stored.modelRef,
          polygonCount: quote.triangles,
          price: quote.price,
          currency: quote.currency,
        }),
      (created) => (created ? [moveEvent(created, null)] : []),
    );
    if (!order) throw new Error('insert returned no row');
    // The legacy answer keeps its exact shape: the order, nothing more.
    return { status: 201, body: legacy ? order : { ...order, pricing: pricingInfo(quote) } };
  } catch (err) {
    await stored.remove().catch(() => undefined);
    if (sqlState(err) === '23505') throw duplicate(externalId);
    throw err;
  }
}

/** How an `offload` or `runner` quote was made, for the B2B answer. */
function pricingInfo(quote: PricingOutcome): Record<string, unknown> {
  return {
    engine: quote.engine,
    cached: quote.cached,
    durationMs: quote.durationMs,
    ...(quote.alloy !== undefined ? { alloy: quote.alloy } : {}),
    ...(quote.modelVersion !== undefined ? { modelVersion: quote.modelVersion } : {}),
  };
}

/** A model the runner refuses is the client's problem (4xx); a busy runner is a 503. */
function pricingError(err: PricingFailure): ApiError {
  const reason = err.reason !== undefined ? { reason: err.reason } : {};
  switch (err.code) {
    case 'INVALID_MODEL':
      return new ApiError(400, 'INVALID_MODEL', err.message, { cause: err, ...reason });
    case 'MODEL_NOT_PRICEABLE':
      return new ApiError(422, 'MODEL_NOT_PRICEABLE', err.message, { cause: err, ...reason });
    case 'PRICING_UNAVAILABLE':
      return new ApiError(503, 'PRICING_UNAVAILABLE', err.message, {
        cause: err,
        headers: { 'retry-after': '1' },
        ...reason,
      });
    case 'PRICING_TIMEOUT':
      return new ApiError(503, 'PRICING_TIMEOUT', err.message, { cause: err, ...reason });
  }
}

async function operators(deps: ApiDeps): Promise<Reply> {
  return { status: 200, body: { items: await listOperators(deps.pool) } };
}

async function stats(deps: ApiDeps): Promise<Reply> {
  return { status: 200, body: deps.stats() };
}

/** The event of an order's move (or creation, with `previousStatus` null). */
export function moveEvent(order: Order, previousStatus: OrderStatus | null): OrderEvent {
  return {
    orderId: order.id,
    externalId: order.externalId,
    status: order.status,
    previousStatus,
    occurredAt: order.updatedAt,
    ...(order.operatorId !== null ? { operatorId: order.operatorId } : {}),
    ...(order.price !== null ? { price: order.price } : {}),
  };
}

/** The events of a transition: one when it moved the order. */
function movedEvents(result: TransitionResult): OrderEvent[] {
  return result.kind === 'moved' ? [moveEvent(result.order, result.previousStatus)] : [];
}

function duplicate(externalId: string): ApiError {
  return new ApiError(
    409,
    'DUPLICATE_EXTERNAL_ID',
    `an order with externalId "${externalId}" exists`,
  );
}

/** Reads the whole body, refusing (413) past `limit` bytes without buffering the excess. */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  // The rest of the body is not read: close the connection rather than drain megabytes.
  const tooLarge = (): ApiError =>
    new ApiError(413, 'PAYLOAD_TOO_LARGE', `the body is larger than the limit of ${limit} bytes`, {
      headers: { connection: 'close' },
    });
  if (Number.isFinite(declared) && declared > limit) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > limit) throw tooLarge();
    chunks.push(buf);
  }
  return Buffer.concat(chunks, size);
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown> | undefined> {
  const raw = await readBody(req, JSON_BODY_LIMIT);
  if (raw.length === 0) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new ApiError(400, 'INVALID_JSON', 'the body is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ApiError(400, 'INVALID_JSON', 'the body must be a JSON object');
  }
  return parsed as Record<string, unknown>;
}
