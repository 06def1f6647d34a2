import { once } from 'node:events';
import http, { type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { getRegistry } from '@meskit/otel-bootstrap/registry';
import { Redis, type Cluster } from 'ioredis';
import type { Registry } from 'prom-client';
import { CacheProxyError } from './errors.js';
import { resolveOptions, type CacheProxyOptions, type Resolved } from './options.js';
import { createAdminServer } from './internal/admin.js';
import { startConsumer, type EventConsumer, type OrderEventBody } from './internal/events.js';
import {
  createUpstream,
  fetchUpstream,
  forward,
  type FetchedAnswer,
  type Upstream,
} from './internal/forward.js';
import { TEST_HOOKS, type TestHooks } from './internal/hooks.js';
import { precedes, TAKE_FROM } from './internal/lifecycle.js';
import { METRIC_NAMES, proxyMetrics, type ProxyMetrics } from './internal/metrics.js';
import {
  memberOf,
  memoryStore,
  redisStore,
  type FillOutcome,
  type IndexItem,
  type IndexStore,
  type RemoveHint,
} from './internal/store.js';

/** The names of the proxy's metrics, for dashboards and tests. */
export const CACHE_PROXY_METRICS = METRIC_NAMES;

export interface CacheProxyStats {
  store: 'memory' | 'redis';
  /**
   * List requests of cached statuses by how they were answered; `staleIfError`: from an
   * expired index while the MES failed (see `staleIfErrorMs`).
   */
  requests: { hit: number; miss: number; stale: number; bypass: number; staleIfError: number };
  /** Every request forwarded unchanged (other routes, other statuses, credentials...). */
  forwarded: number;
  fills: number;
  /** Background fills started by the reconcile timer (`reconcileIntervalMs`). */
  reconciles: number;
  invalidations: { proxy: number; event: number; admin: number };
  writes: number;
  redisErrors: number;
  events: { applied: number; poison: number; failed: number; ignored: number };
  /** Removals that failed and wait for a retry (reads of cached lists are forwarded meanwhile). */
  pendingInvalidations: number;
  /** Pending removals dropped because the retry queue was full. */
  droppedInvalidations: number;
  consumer: 'off' | 'connected' | 'disconnected';
}

export interface CacheProxy {
  /** Base URL of the proxy, e.g. `http://127.0.0.1:8080`. */
  readonly url: string;
  /** Base URL of the admin server; undefined without `adminToken`. */
  readonly adminUrl: string | undefined;
  /**
   * Removes the order from every cached index at once. Rejects with `CacheProxyError`
   * (`STORE_UNAVAILABLE`: retried in the background, reads forwarded meanwhile; `CLOSED`).
   */
  invalidate(orderId: number): Promise<void>;
  stats(): CacheProxyStats;
  /**
   * Drops every cached list (all instances sharing the Redis see it); the next read of each
   * fills it from the MES. For after a bulk import or a restore behind the MES's back.
   * Rejects with `CacheProxyError` (`STORE_UNAVAILABLE`, `CLOSED`).
   */
  rebuild(): Promise<void>;
  /**
   * Stops accepting connections, waits for requests and events in flight, stops the consumer,
   * and closes the Redis client if the proxy created it. Safe to call twice.
   */
  close(): Promise<void>;
}

const WARN_REDIS = 'MESKIT_CACHE_REDIS_UNAVAILABLE';
const WARN_POISON = 'MESKIT_CACHE_POISON_EVENT';
const WARN_INVALIDATION_DROPPED = 'MESKIT_CACHE_INVALIDATION_DROPPED';
const CACHE = 'meskit';
/** Failed removals kept for retry; past it they are dropped (counted, warned once). */
const MAX_PENDING_INVALIDATIONS = 10_000;
const INVALIDATION_RETRY_MIN_MS = 100;
const INVALIDATION_RETRY_MAX_MS = 5_000;
/** How long write-through waits for the MES to apply an event announced before it did. */
const WRITE_THROUGH_WAITS_MS = [50, 100, 200, 400, 800, 1600];

interface OrderItem {
  id: number;
  createdAt: string;
  status?: unknown;
}

function isOrderItem(value: unknown): value is OrderItem {
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

function toIndexItem(order: OrderItem): IndexItem {
  return {
    member: memberOf(order.id),
    score: Date.parse(order.createdAt),
    doc: JSON.stringify(order),
  };
}

/** The MES's query-parameter rule for page and pageSize. */
function intParam(text: string | null, fallback: number): number | undefined {
  if (text === null) return fallback;
  if (!/^[0-9]{1,9}$/.test(text)) return undefined;
  return Number(text);
}

interface Snapshot {
  items: OrderItem[];
  total: number;
  contentType: string;
}

interface FillResult {
  outcome: FillOutcome | 'store_error' | 'upstream_error';
  snapshot?: Snapshot;
}

interface PendingInvalidation {
  orderId: number;
  statuses: Set<string>;
  hint: Map<string, RemoveHint>;
}

/** The MES's list route, which the proxy answers from its index for the cached statuses. */
const LIST_PATH = '/api/orders';
const LIST_QUERY = `${LIST_PATH}?`;

/** Rendered pages kept per proxy (see serveList); past it the map starts again. */
const MAX_RENDERED_PAGES = 256;

/** The MES's exact shape: its items verbatim, then page, pageSize, total. */
function renderPage(
  page: number,
  pageSize: number,
  total: number,
  docs: readonly string[],
): Buffer {
  return Buffer.from(
    `{"items":[${docs.join(',')}],"page":${page},"pageSize":${pageSize},"total":${total}}`,
  );
}

/** Resolves once `client` is ready, or after `timeoutMs` (Redis down: the proxy starts anyway). */
function connected(client: Redis | Cluster, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      client.off('ready', done);
      client.off('end', done);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    timer.unref();
    client.once('ready', done);
    client.once('end', done);
  });
}

/**
 * Starts the proxy (and, with `adminToken`, its admin server) and resolves once both listen.
 * Throws `CacheProxyError` `BAD_OPTION` synchronously for invalid options.
 */
export function createCacheProxy(opts: CacheProxyOptions): Promise<CacheProxy> {
  const o = resolveOptions(opts);
  const hooks = opts[TEST_HOOKS] ?? {};
  const registry = opts.registry ?? getRegistry();
  return start(o, hooks, registry, opts.redis);
}

async function start(
  o: Resolved,
  hooks: TestHooks,
  registry: Registry,
  redisOption: Redis | Cluster | string | undefined,
): Promise<CacheProxy> {
  const limits = {
    ttlMs: o.ttlMs,
    tombstoneTtlMs: o.tombstoneTtlMs,
    staleIfErrorMs: o.staleIfErrorMs,
    fillDepth: o.fillDepth,
    maxDepth: o.maxDepth,
  };
  let store: IndexStore;
  if (redisOption === undefined) {
    store = memoryStore({ limits, now: Date.now });
  } else {
    const owned = typeof redisOption === 'string';
    const client = owned
      ? new Redis(redisOption, {
          connectionName: 'meskit-cache-proxy',
          // Fail fast while disconnected: a request goes to the MES instead of waiting.
          enableOfflineQueue: false,
          maxRetriesPerRequest: 1,
          commandTimeout: o.redisTimeoutMs,
        })
      : redisOption;
    // Failures surface through the commands (counted, warned once); without a listener ioredis
    // prints every reconnect failure. A client passed in is the caller's: its listeners too.
    if (owned) {
      client.on('error', () => undefined);
      // Commands fail fast while disconnected (no offline queue): give the connection a
      // bounded head start so the first requests are not forwarded for nothing.
      await connected(client, Math.max(1000, o.redisTimeoutMs));
    }
    store = redisStore({
      client,
      owned,
      keyPrefix: o.keyPrefix,
      limits,
      timeoutMs: o.redisTimeoutMs,
    });
  }

  const counts: CacheProxyStats = {
    store: store.kind,
    requests: { hit: 0, miss: 0, stale: 0, bypass: 0, staleIfError: 0 },
    forwarded: 0,
    fills: 0,
    reconciles: 0,
    invalidations: { proxy: 0, event: 0, admin: 0 },
    writes: 0,
    redisErrors: 0,
    events: { applied: 0, poison: 0, failed: 0, ignored: 0 },
    pendingInvalidations: 0,
    droppedInvalidations: 0,
    consumer: o.amqpUrl ? 'disconnected' : 'off',
  };
  const metrics: ProxyMetrics = proxyMetrics(registry, async () => {
    const sizes = new Map<string, number>();
    for (const status of o.statuses) sizes.set(status, await store.size(status));
    return sizes;
  });
  // The counter of the hot path bound once: no label object per hit.
  const hitCounter = metrics.requests.labels({ result: 'hit' });
  const upstream: Upstream = createUpstream(o.upstream, o.upstreamTimeoutMs, o.upstreamMaxSockets);

  let closed = false;
  const warned = new Set<string>();
  function warnOnce(code: string, message: string): void {
    if (warned.has(code)) return;
    warned.add(code);
    process.emitWarning(message, { code });
  }
  function storeFailed(error: unknown): void {
    counts.redisErrors += 1;
    metrics.redisErrors.inc();
    const reason = error instanceof Error ? error.message : String(error);
    warnOnce(
      WARN_REDIS,
      `cache proxy: the index store failed (${reason}); requests are forwarded to the MES while it is unavailable. Check the redis option and that Redis is running. Further failures are counted in ${METRIC_NAMES.redisErrors} without warning.`,
    );
  }

  // ------------------------------------------------------------------ invalidation

  const pending = new Map<number, PendingInvalidation>();
  let retryTimer: NodeJS.Timeout | undefined;
  let retryAttempt = 0;

  async function removeEverywhere(
    orderId: number,
    hintFor: (status: string) => RemoveHint,
    statuses: readonly string[],
  ): Promise<Set<string>> {
    const failed = new Set<string>();
    await Promise.all(
      statuses.map(async (status) => {
        try {
          await store.remove(status, memberOf(orderId), hintFor(status));
        } catch (error) {
          storeFailed(error);
          failed.add(status);
        }
      }),
    );
    return failed;
  }

  /** Remembers removals that failed; reads of those lists bypass the index until they land. */
  function defer(
    orderId: number,
    statuses: Set<string>,
    hintFor: (status: string) => RemoveHint,
  ): void {
    const entry = pending.get(orderId) ?? { orderId, statuses: new Set(), hint: new Map() };
    for (const status of statuses) {
      entry.statuses.add(status);
      entry.hint.set(status, hintFor(status));
    }
    if (!pending.has(orderId) && pending.size >= MAX_PENDING_INVALIDATIONS) {
      counts.droppedInvalidations += 1;
      warnOnce(
        WARN_INVALIDATION_DROPPED,
        `cache proxy: ${MAX_PENDING_INVALIDATIONS} removals already wait for the store; further ones are dropped and the affected lists rely on ttlMs. Counted in stats().droppedInvalidations.`,
      );
      return;
    }
    pending.set(orderId, entry);
    counts.pendingInvalidations = pending.size;
    scheduleRetry();
  }

  function scheduleRetry(): void {
    if (retryTimer || closed || pending.size === 0) return;
    const delay = Math.min(
      INVALIDATION_RETRY_MAX_MS,
      INVALIDATION_RETRY_MIN_MS * 2 ** retryAttempt,
    );
    retryAttempt += 1;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      void retryPending();
    }, delay);
    retryTimer.unref();
  }

  async function retryPending(): Promise<void> {
    for (const entry of [...pending.values()]) {
      if (closed) return;
      const failed = await removeEverywhere(
        entry.orderId,
        (s) => entry.hint.get(s) ?? { known: false },
        [...entry.statuses],
      );
      if (failed.size === 0) pending.delete(entry.orderId);
      else {
        entry.statuses = failed;
        break; // still down: wait for the next round
      }
    }
    counts.pendingInvalidations = pending.size;
    if (pending.size === 0) retryAttempt = 0;
    else scheduleRetry();
  }

  function pendingFor(status: string): boolean {
    if (pending.size === 0) return false;
    for (const entry of pending.values()) if (entry.statuses.has(status)) return true;
    return false;
  }

  async function invalidate(
    orderId: number,
    source: 'proxy' | 'admin',
    hintFor: (status: string) => RemoveHint,
  ): Promise<boolean> {
    const failed = await removeEverywhere(orderId, hintFor, o.statuses);
    counts.invalidations[source] += 1;
    metrics.invalidations.inc({ source });
    if (failed.size > 0) {
      defer(orderId, failed, hintFor);
      return false;
    }
    return true;
  }

  // ------------------------------------------------------------------ fills

  const fills = new Map<string, Promise<FillResult>>();
  const contentTypes = new Map<string, string>();

  async function runFill(status: string): Promise<FillResult> {
    const started = performance.now();
    const finish = (result: FillResult): FillResult => {
      counts.fills += 1;
      metrics.fills.inc({ outcome: result.outcome });
      metrics.fillDuration.observe((performance.now() - started) / 1000);
      return result;
    };
    const incarnation = store.incarnation;
    let e0: number;
    try {
      e0 = await store.ticket(status);
    } catch (error) {
      storeFailed(error);
      return finish({ outcome: 'store_error' });
    }
    let answer: FetchedAnswer;
    try {
      answer = await fetchUpstream(
        upstream,
        `/api/orders?status=${encodeURIComponent(status)}&page=1&pageSize=${o.fillDepth}`,
      );
    } catch {
      return finish({ outcome: 'upstream_error' });
    }
    const snapshot = answer.status === 200 ? parseList(answer) : undefined;
    if (!snapshot) return finish({ outcome: 'upstream_error' });
    contentTypes.set(status, snapshot.contentType);
    if (hooks.afterFillRead) await hooks.afterFillRead(status);
    // The store reconnected since the ticket (a restarted Redis counts epochs afresh): the
    // snapshot cannot be checked against removals made since, so it is not written.
    if (store.incarnation !== incarnation) return finish({ outcome: 'reset', snapshot });
    try {
      const outcome = await store.fill(status, e0, snapshot.items.map(toIndexItem), snapshot.total);
      return finish({ outcome, snapshot });
    } catch (error) {
      storeFailed(error);
      return finish({ outcome: 'store_error', snapshot });
    }
  }

  function parseList(answer: FetchedAnswer): Snapshot | undefined {
    try {
      const body = JSON.parse(answer.body.toString('utf8')) as Record<string, unknown>;
      const { items, total } = body;
      if (!Array.isArray(items) || !items.every(isOrderItem)) return undefined;
      if (typeof total !== 'number' || !Number.isSafeInteger(total) || total < items.length)
        return undefined;
      return { items, total, contentType: answer.contentType ?? 'application/json; charset=utf-8' };
    } catch {
      return undefined;
    }
  }

  /** One fill per status at a time: later requests wait for the one in flight. */
  function fillOnce(status: string): { promise: Promise<FillResult>; initiator: boolean } {
    const inFlight = fills.get(status);
    if (inFlight) return { promise: inFlight, initiator: false };
    const promise = runFill(status).finally(() => fills.delete(status));
    fills.set(status, promise);
    return { promise, initiator: true };
  }

  // ------------------------------------------------------------------ requests

  function sendPage(
    res: ServerResponse,
    status: string,
    page: number,
    pageSize: number,
    total: number,
    docs: readonly string[],
    cacheStatus: string,
  ): void {
    sendRendered(res, status, renderPage(page, pageSize, total, docs), cacheStatus);
  }

  function sendRendered(
    res: ServerResponse,
    status: string,
    body: Buffer,
    cacheStatus: string,
  ): void {
    res.writeHead(200, {
      'content-type': contentTypes.get(status) ?? 'application/json; charset=utf-8',
      'content-length': body.length,
      'cache-status': cacheStatus,
    });
    res.end(body);
  }

  // Version reads of one status are batched per event-loop turn: every request that arrived
  // before the read is sent shares it (under load several per turn: one MGET for all). Only
  // reads not yet sent are joined, so each request still sees a version read after it
  // arrived, as the no-stale guarantee needs.
  const versionBatches = new Map<string, Promise<string | undefined>>();

  function batchedVersion(status: string): Promise<string | undefined> {
    let batch = versionBatches.get(status);
    if (batch === undefined) {
      batch = new Promise<string | undefined>((resolve, reject) => {
        setImmediate(() => {
          versionBatches.delete(status);
          store.version(status).then(resolve, reject);
        });
      });
      versionBatches.set(status, batch);
    }
    return batch;
  }

  /** Rendered pages by status, page and size, each with the store version it was cut at. */
  const renderedPages = new Map<string, { version: string; body: Buffer }>();

  function keepRendered(key: string, version: string, body: Buffer): void {
    // Bounded: operators read a handful of pages; past the bound start again.
    if (renderedPages.size >= MAX_RENDERED_PAGES && !renderedPages.has(key)) renderedPages.clear();
    renderedPages.set(key, { version, body });
  }

  function bypass(
    req: IncomingMessage,
    res: ServerResponse,
    detail?: string,
    counted = true,
  ): Promise<void> {
    if (counted) {
      counts.requests.bypass += 1;
      metrics.requests.inc({ result: 'bypass' });
    }
    counts.forwarded += 1;
    const entry = detail ? `${CACHE}; fwd=bypass; detail=${detail}` : `${CACHE}; fwd=bypass`;
    return forward(upstream, req, res, { cacheStatus: entry });
  }

  async function serveList(
    req: IncomingMessage,
    res: ServerResponse,
    q: URLSearchParams,
  ): Promise<void> {
    const status = q.get('status');
    if (status === null || !o.statuses.includes(status)) return bypass(req, res, undefined, false);
    if (
      !o.sharedAuthorization &&
      (req.headers.authorization !== undefined || req.headers.cookie !== undefined)
    ) {
      return bypass(req, res, 'credentials');
    }
    const page = intParam(q.get('page'), 1);
    const pageSize = intParam(q.get('pageSize'), 20);
    // Invalid: the MES answers its own 400.
    if (
      page === undefined ||
      page < 1 ||
      pageSize === undefined ||
      pageSize < 1 ||
      pageSize > 100
    ) {
      return bypass(req, res, 'invalid');
    }
    const offset = (page - 1) * pageSize;
    if (offset + pageSize > o.maxDepth) return bypass(req, res, 'beyond-depth');
    if (pendingFor(status)) return bypass(req, res, 'invalidation-pending');

    // A page rendered earlier is answered again while the store's version of the status is
    // unchanged: one small read (MGET) instead of cutting the page from the index and
    // rendering it. Any write, fill or expiry changes the version, so this is never staler
    // than the index itself.
    const renderKey = `${status}\n${page}\n${pageSize}`;
    let first;
    try {
      const rendered = renderedPages.get(renderKey);
      if (rendered !== undefined) {
        const version = await batchedVersion(status);
        if (version !== undefined && version === rendered.version) {
          counts.requests.hit += 1;
          hitCounter.inc();
          return sendRendered(res, status, rendered.body, `${CACHE}; hit`);
        }
      }
      first = await store.page(status, offset, pageSize);
    } catch (error) {
      storeFailed(error);
      return bypass(req, res, 'redis-error');
    }
    if (first.kind === 'hit') {
      counts.requests.hit += 1;
      metrics.requests.inc({ result: 'hit' });
      const body = renderPage(page, pageSize, first.total, first.docs);
      if (first.version !== undefined) keepRendered(renderKey, first.version, body);
      return sendRendered(res, status, body, `${CACHE}; hit`);
    }
    if (first.kind === 'deep') return bypass(req, res, 'beyond-depth');

    const result = first.kind === 'stale' ? 'stale' : 'miss';
    const { promise, initiator } = fillOnce(status);
    const filled = await promise;
    if (filled.outcome === 'written') {
      let second;
      try {
        second = await store.page(status, offset, pageSize);
      } catch (error) {
        storeFailed(error);
        second = undefined;
      }
      if (second?.kind === 'hit') {
        counts.requests[result] += 1;
        metrics.requests.inc({ result });
        const how = initiator ? 'stored' : 'collapsed';
        return sendPage(
          res,
          status,
          page,
          pageSize,
          second.total,
          second.docs,
          `${CACHE}; fwd=${result}; ${how}`,
        );
      }
      if (second?.kind === 'deep') return bypass(req, res, 'beyond-depth');
    }
    // The index was not written (or cannot serve this page). The request that started the fill
    // began before its read of the MES, so the snapshot is as fresh as it needs; requests that
    // joined later may have begun after a take was acknowledged, so they ask the MES.
    const snapshot = filled.snapshot;
    if (initiator && snapshot) {
      const complete = snapshot.items.length >= snapshot.total;
      if (offset + pageSize <= snapshot.items.length || complete) {
        counts.requests[result] += 1;
        metrics.requests.inc({ result });
        const docs = snapshot.items
          .slice(offset, offset + pageSize)
          .map((item) => JSON.stringify(item));
        const detail = filled.outcome === 'store_error' ? 'redis-error' : filled.outcome;
        return sendPage(
          res,
          status,
          page,
          pageSize,
          snapshot.total,
          docs,
          `${CACHE}; fwd=${result}; detail=${detail}`,
        );
      }
    }
    // Stale-if-error: the MES is down or failing, and the expired index is younger than
    // ttlMs + staleIfErrorMs (its data expire then). Removals still apply to it, so no order
    // taken through the proxy or announced by an event comes back.
    if (filled.outcome === 'upstream_error' && o.staleIfErrorMs > 0) {
      let stale;
      try {
        stale = await store.page(status, offset, pageSize, { expired: true });
      } catch (error) {
        storeFailed(error);
        stale = undefined;
      }
      if (stale?.kind === 'hit') {
        counts.requests.staleIfError += 1;
        metrics.requests.inc({ result: 'stale_if_error' });
        return sendPage(
          res,
          status,
          page,
          pageSize,
          stale.total,
          stale.docs,
          `${CACHE}; hit; detail=stale-if-error`,
        );
      }
    }
    return bypass(
      req,
      res,
      filled.outcome === 'store_error' ? 'redis-error' : `fill-${filled.outcome.replace('_', '-')}`,
    );
  }

  async function serveTake(
    req: IncomingMessage,
    res: ServerResponse,
    idText: string,
  ): Promise<void> {
    counts.forwarded += 1;
    const orderId = /^[1-9][0-9]{0,15}$/.test(idText) ? Number(idText) : undefined;
    await forward(upstream, req, res, {
      cacheStatus: `${CACHE}; fwd=bypass`,
      // Before the client sees the 2xx: once it has it, no later read lists the order.
      beforeReply: async (statusCode, body) => {
        if (statusCode < 200 || statusCode > 299 || orderId === undefined) return;
        let score: number | undefined;
        try {
          const order: unknown = JSON.parse(body.toString('utf8'));
          if (isOrderItem(order) && order.id === orderId) score = Date.parse(order.createdAt);
        } catch {
          // Not the MES's usual answer: remove without the position hint.
        }
        await invalidate(orderId, 'proxy', (status) => ({
          known: status === TAKE_FROM,
          ...(score !== undefined ? { score } : {}),
        }));
      },
    });
  }

  /**
   * Any other write: forwarded; when the MES answers 2xx with an order in a cached status (a
   * B2B upload creating one, say), the order is written through to the index before the
   * client gets the answer, so it is on the list as soon as its creation is acknowledged.
   * The document is the MES's own list item (read back by id), not the write's answer.
   */
  function serveWrite(req: IncomingMessage, res: ServerResponse): Promise<void> {
    counts.forwarded += 1;
    return forward(upstream, req, res, {
      cacheStatus: `${CACHE}; fwd=bypass`,
      beforeReply: async (statusCode, body) => {
        if (statusCode < 200 || statusCode > 299) return;
        let created: unknown;
        try {
          created = JSON.parse(body.toString('utf8'));
        } catch {
          return; // not JSON: not an order
        }
        const { id, status } = (created ?? {}) as { id?: unknown; status?: unknown };
        if (typeof id !== 'number' || !Number.isSafeInteger(id) || typeof status !== 'string')
          return;
        if (!o.statuses.includes(status)) return;
        try {
          await writeThrough(status, id, 'proxy');
        } catch {
          // Not written through: drop the list so the next read fills it with the order.
          await viaStore(() => store.reset([status])).catch(() => undefined);
        }
      },
    });
  }

  const inFlight = new Set<Promise<void>>();
  function onRequest(req: IncomingMessage, res: ServerResponse): void {
    const work = route(req, res).catch(() => {
      if (!res.headersSent) {
        res.writeHead(502, { 'content-type': 'application/json; charset=utf-8' });
        res.end(
          JSON.stringify({
            error: { code: 'PROXY_ERROR', message: 'the cache proxy failed to handle the request' },
          }),
        );
      } else res.destroy();
    });
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work));
  }

  function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // The operators' list, the hot path: its query string read without building a URL.
    // Anything else (dot segments, encodings, other paths) goes through the URL parser below.
    const target = req.url ?? '/';
    if (req.method === 'GET' && (target === LIST_PATH || target.startsWith(LIST_QUERY))) {
      return serveList(req, res, new URLSearchParams(target.slice(LIST_PATH.length)));
    }
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://proxy.invalid');
    } catch {
      return bypass(req, res, undefined, false);
    }
    if (req.method === 'GET' && url.pathname === LIST_PATH)
      return serveList(req, res, url.searchParams);
    const take = req.method === 'POST' ? /^\/api\/orders\/([^/]+)\/take$/.exec(url.pathname) : null;
    if (take) return serveTake(req, res, take[1]!);
    if (req.method === 'POST') return serveWrite(req, res);
    return bypass(req, res, undefined, false);
  }

  // ------------------------------------------------------------------ events

  function pause(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms).unref());
  }

  /** A store operation whose failure is counted (and warned about) before it propagates. */
  async function viaStore<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      storeFailed(error);
      throw error;
    }
  }

  async function writeThrough(
    status: string,
    orderId: number,
    source: 'event' | 'proxy' = 'event',
  ): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const incarnation = store.incarnation;
      const ticket = await viaStore(() => store.ticket(status));
      const answer = await fetchUpstream(upstream, `/api/orders/${orderId}`);
      if (answer.status === 404) return;
      if (answer.status !== 200) {
        throw new Error(`the MES answered GET /api/orders/${orderId} with ${answer.status}`);
      }
      let order: unknown;
      try {
        order = JSON.parse(answer.body.toString('utf8'));
      } catch {
        order = undefined;
      }
      if (!isOrderItem(order)) {
        throw new Error(`the MES answered GET /api/orders/${orderId} with no order`);
      }
      if (order.status === status) {
        // Reconnected since the ticket: take a new one (see runFill).
        if (store.incarnation !== incarnation) continue;
        const item = toIndexItem(order);
        const outcome = await viaStore(() => store.add(status, item, ticket));
        if (outcome === 'added') {
          counts.writes += 1;
          metrics.writes.inc({ source });
        }
        return;
      }
      // The event was published before the MES applied it (the CRM announces an approval the
      // MES then consumes): wait a little for the MES to catch up.
      const wait = WRITE_THROUGH_WAITS_MS[attempt];
      if (closed || wait === undefined) return;
      if (typeof order.status !== 'string' || !precedes(order.status, status)) return;
      await pause(wait);
    }
  }

  async function onEvent(event: OrderEventBody): Promise<void> {
    const previous = event.previousStatus;
    if (previous !== null && o.statuses.includes(previous)) {
      await viaStore(() => store.remove(previous, memberOf(event.orderId), { known: true }));
      counts.invalidations.event += 1;
      metrics.invalidations.inc({ source: 'event' });
    }
    if (o.statuses.includes(event.status)) await writeThrough(event.status, event.orderId);
  }

  let consumer: EventConsumer | undefined;
  if (o.amqpUrl) {
    consumer = startConsumer({
      url: o.amqpUrl,
      exchange: o.exchange,
      queue: o.queue,
      prefetch: o.prefetch,
      retryDelayMs: o.eventRetryDelayMs,
      handle: (event) => onEvent(event),
      // Events may have been missed while disconnected: every index is filled afresh.
      onConnected: () => viaStore(() => store.reset(o.statuses)),
      onApplied: () => {
        counts.events.applied += 1;
        metrics.events.inc({ outcome: 'applied' });
      },
      onPoison: (reason) => {
        counts.events.poison += 1;
        metrics.events.inc({ outcome: 'poison' });
        warnOnce(
          WARN_POISON,
          `cache proxy: an order event could not be read (${reason}); it was acked and dropped. Further ones are counted in ${METRIC_NAMES.events}{outcome="poison"} without warning.`,
        );
      },
      onIgnored: () => {
        counts.events.ignored += 1;
        metrics.events.inc({ outcome: 'ignored' });
      },
      onFailed: () => {
        counts.events.failed += 1;
        metrics.events.inc({ outcome: 'failed' });
      },
      onDisconnected: () => undefined,
    });
  }

  // ------------------------------------------------------------------ servers

  const server: Server = http.createServer(onRequest);
  // Longer than the usual client's keep-alive, so the proxy is not the one closing under it.
  server.keepAliveTimeout = 65_000;
  let admin: Server | undefined;
  if (o.adminToken) {
    admin = createAdminServer({
      token: o.adminToken,
      invalidate: (orderId) => publicInvalidate(orderId),
      rebuild: () => publicRebuild(),
      stats: () => stats(),
    });
  }

  function stats(): CacheProxyStats {
    return {
      ...counts,
      requests: { ...counts.requests },
      invalidations: { ...counts.invalidations },
      events: { ...counts.events },
      consumer: consumer ? (consumer.connected ? 'connected' : 'disconnected') : 'off',
    };
  }

  /** Drops every cached index; the next read of each list fills it from the MES. */
  async function publicRebuild(): Promise<void> {
    if (closed) throw new CacheProxyError('CLOSED', 'rebuild() after close(): create a new proxy');
    try {
      await viaStore(() => store.reset(o.statuses));
    } catch (error) {
      throw new CacheProxyError(
        'STORE_UNAVAILABLE',
        `cannot drop the cached lists: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
  }

  async function publicInvalidate(orderId: number): Promise<void> {
    if (closed)
      throw new CacheProxyError('CLOSED', 'invalidate() after close(): create a new proxy');
    if (!Number.isSafeInteger(orderId) || orderId < 1) {
      throw new CacheProxyError(
        'BAD_OPTION',
        `invalidate: orderId must be a positive integer, got ${String(orderId)}`,
      );
    }
    const landed = await invalidate(orderId, 'admin', () => ({ known: false }));
    if (!landed) {
      throw new CacheProxyError(
        'STORE_UNAVAILABLE',
        `order ${orderId} could not be removed from the index store now; the removal is retried in the background and this proxy forwards list reads to the MES until it lands`,
      );
    }
  }

  async function listen(s: Server, host: string, port: number, what: string): Promise<string> {
    s.listen(port, host);
    try {
      await Promise.race([
        once(s, 'listening'),
        once(s, 'error').then(([e]) => Promise.reject(e as Error)),
      ]);
    } catch (error) {
      throw new CacheProxyError(
        'LISTEN_FAILED',
        `cache proxy: cannot listen on ${host}:${port} (${what}): ${(error as Error).message}. Choose another port.`,
        { cause: error },
      );
    }
    const address = s.address() as AddressInfo;
    const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `http://${shown}:${address.port}`;
  }

  // Reconcile: the cached lists filled again in the background, one fill per status at a time
  // (joining a fill a read started). Each fill replaces the index with the MES's snapshot
  // under the same epoch/tombstone protocol, so it corrects a missed event and never undoes
  // a removal.
  const reconciler =
    o.reconcileIntervalMs > 0
      ? setInterval(() => {
          if (closed) return;
          for (const status of o.statuses) {
            if (fills.has(status)) continue;
            counts.reconciles += 1;
            void fillOnce(status).promise;
          }
        }, o.reconcileIntervalMs)
      : undefined;
  reconciler?.unref();

  let closing: Promise<void> | undefined;
  async function close(): Promise<void> {
    closed = true;
    if (reconciler) clearInterval(reconciler);
    if (retryTimer) clearTimeout(retryTimer);
    await Promise.all([
      new Promise<void>((resolve) =>
        server.listening ? server.close(() => resolve()) : resolve(),
      ),
      admin
        ? new Promise<void>((resolve) =>
            admin!.listening ? admin!.close(() => resolve()) : resolve(),
          )
        : undefined,
      Promise.allSettled([...inFlight]),
      consumer?.close(),
    ]);
    server.closeAllConnections();
    admin?.closeAllConnections();
    await Promise.allSettled([...fills.values()]);
    metrics.detach();
    upstream.agent.destroy();
    await store.close();
  }

  let url: string;
  let adminUrl: string | undefined;
  try {
    url = await listen(server, o.host, o.port, 'port');
    if (admin) adminUrl = await listen(admin, o.adminHost, o.adminPort, 'adminPort');
  } catch (error) {
    await close();
    throw error;
  }

  return {
    url,
    adminUrl,
    invalidate: publicInvalidate,
    rebuild: publicRebuild,
    stats,
    close() {
      closing ??= close();
      return closing;
    },
  };
}
