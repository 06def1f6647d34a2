// createCacheProxy: the composition of the proxy's parts (internal/), its servers, and close.
// Each part has one job: the index store (store, open-store), fills (fills, reconcile), the
// list route, writes (write-routes, write-through, invalidations), order events
// (event-handling over events), and one recorder for stats() and the metrics together.
import http, { type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createWarnOnce, getRegistry, listen } from '@meskit/kernel';
import type { Cluster, Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { CacheProxyError } from './errors.js';
import { resolveOptions, type CacheProxyOptions, type Resolved } from './options.js';
import { createAdminServer } from './internal/admin.js';
import { startEventHandling } from './internal/event-handling.js';
import type { EventConsumer } from './internal/events.js';
import { createFills } from './internal/fills.js';
import { createUpstream } from './internal/forward.js';
import { TEST_HOOKS, type TestHooks } from './internal/hooks.js';
import { createInvalidations } from './internal/invalidations.js';
import { createListRoute } from './internal/list-route.js';
import { METRIC_NAMES } from './internal/metrics.js';
import { openStore } from './internal/open-store.js';
import { createPassThrough } from './internal/pass-through.js';
import { startReconcile } from './internal/reconcile.js';
import { ADMIN_ROUTES, PUBLIC_ROUTES, pathPattern } from './internal/routes.js';
import {
  createRecorder,
  viaStore,
  type CacheProxyStats,
  type Recorder,
} from './internal/recorder.js';
import { createWriteRoutes } from './internal/write-routes.js';
import { createWriteThrough } from './internal/write-through.js';

export type { CacheProxyStats } from './internal/recorder.js';

/** The names of the proxy's metrics, for dashboards and tests. */
export const CACHE_PROXY_METRICS = METRIC_NAMES;

/**
 * The routes the proxy answers itself (method and OpenAPI-style path), for API tests and docs:
 * `public` on its port (anything else is forwarded to the MES), `admin` on the admin server.
 */
export const CACHE_PROXY_ROUTES = Object.freeze({
  public: Object.freeze(Object.values(PUBLIC_ROUTES)),
  admin: Object.freeze(Object.values(ADMIN_ROUTES)),
});

export interface CacheProxy {
  /** Base URL of the proxy, e.g. `http://127.0.0.1:8080`. */
  readonly url: string;
  /** Base URL of the admin server; undefined without `adminToken`. */
  readonly adminUrl: string | undefined;
  /**
   * Removes the order from every cached index at once. Rejects with `CacheProxyError`
   * (`STORE_UNAVAILABLE`: retried in the background, reads forwarded meanwhile; `CLOSED`;
   * `BAD_ARGUMENT`).
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

/** The MES's list route, which the proxy answers from its index for the cached statuses. */
const LIST_METHOD = PUBLIC_ROUTES.list.method;
const LIST_PATH = PUBLIC_ROUTES.list.path;
const LIST_QUERY = `${LIST_PATH}?`;
const TAKE_METHOD = PUBLIC_ROUTES.take.method;
const TAKE_PATH = pathPattern(PUBLIC_ROUTES.take.path);

/**
 * Starts the proxy (and, with `adminToken`, its admin server) and resolves once both listen.
 * Throws the kernel's `InvalidOptionError` synchronously for invalid options; rejects with its
 * `ListenError` (`LISTEN_FAILED`) when a port cannot be bound.
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
  // The recorder needs the store's kind; the store reports unreplicated writes to it.
  const late: { recorder?: Recorder } = {};
  const store = await openStore(o, redisOption, {
    now: hooks.now ?? Date.now,
    onUnreplicated: () => late.recorder?.unreplicatedWrite(),
  });
  // Per instance: each proxy says once what went wrong with its own store or events.
  const warnOnce = createWarnOnce();
  const recorder = createRecorder({
    registry,
    store: store.kind,
    warnOnce,
    sizes: async () => {
      const sizes = new Map<string, number>();
      for (const status of o.statuses) sizes.set(status, await store.size(status));
      return sizes;
    },
  });
  late.recorder = recorder;
  const upstream = createUpstream({
    url: o.upstream,
    timeoutMs: o.upstreamTimeoutMs,
    maxSockets: o.upstreamMaxSockets,
    idleTimeoutMs: o.upstreamIdleTimeoutMs,
    retried: () => recorder.upstreamRetry(),
  });
  let closed = false;

  const invalidations = createInvalidations({ store, statuses: o.statuses, recorder, warnOnce });
  const fills = createFills({ store, upstream, fillDepth: o.fillDepth, hooks, recorder });
  const pass = createPassThrough(upstream, recorder);
  const serveList = createListRoute({ ...o, store, fills, invalidations, recorder, pass });
  const writeThrough = createWriteThrough({
    store,
    upstream,
    recorder,
    hooks,
    closed: () => closed,
  });
  const writes = createWriteRoutes({
    statuses: o.statuses,
    upstream,
    store,
    invalidations,
    writeThrough,
    recorder,
    invalidationWaitMs: o.invalidationWaitMs,
  });
  const consumer: EventConsumer | undefined = o.amqpUrl
    ? startEventHandling({
        amqpUrl: o.amqpUrl,
        exchange: o.exchange,
        queue: o.queue,
        prefetch: o.prefetch,
        retryDelayMs: o.eventRetryDelayMs,
        registry,
        tokens: upstream.tokens,
        statuses: o.statuses,
        store,
        writeThrough,
        recorder,
        warnOnce,
      })
    : undefined;
  const reconciler = startReconcile({
    intervalMs: o.reconcileIntervalMs,
    statuses: o.statuses,
    fills,
    recorder,
  });

  function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // The operators' list, the hot path: its query string read without building a URL.
    // Anything else (dot segments, encodings, other paths) goes through the URL parser below.
    const target = req.url ?? '/';
    if (req.method === LIST_METHOD && (target === LIST_PATH || target.startsWith(LIST_QUERY))) {
      return serveList(req, res, new URLSearchParams(target.slice(LIST_PATH.length)));
    }
    let url: URL;
    try {
      url = new URL(target, 'http://proxy.invalid');
    } catch {
      return pass(req, res, undefined, false);
    }
    if (req.method === LIST_METHOD && url.pathname === LIST_PATH)
      return serveList(req, res, url.searchParams);
    const take = req.method === TAKE_METHOD ? TAKE_PATH.exec(url.pathname) : null;
    if (take) return writes.take(req, res, take[1]!);
    if (req.method === 'POST') return writes.write(req, res);
    return pass(req, res, undefined, false);
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

  function stats(): CacheProxyStats {
    return recorder.stats(consumer ? (consumer.connected ? 'connected' : 'disconnected') : 'off');
  }

  /** Drops every cached index; the next read of each list fills it from the MES. */
  async function rebuild(): Promise<void> {
    if (closed) throw new CacheProxyError('CLOSED', 'rebuild() after close(): create a new proxy');
    try {
      await viaStore(recorder, () => store.reset(o.statuses));
    } catch (error) {
      throw new CacheProxyError(
        'STORE_UNAVAILABLE',
        `cannot drop the cached lists: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
  }

  async function invalidate(orderId: number): Promise<void> {
    if (closed)
      throw new CacheProxyError('CLOSED', 'invalidate() after close(): create a new proxy');
    if (!Number.isSafeInteger(orderId) || orderId < 1) {
      throw new CacheProxyError(
        'BAD_ARGUMENT',
        `invalidate: orderId must be a positive integer, got ${String(orderId)}`,
      );
    }
    const landed = await invalidations.invalidate(orderId, 'admin', () => ({ known: false }));
    if (!landed) {
      throw new CacheProxyError(
        'STORE_UNAVAILABLE',
        `order ${orderId} could not be removed from the index store now; the removal is retried in the background and this proxy forwards list reads to the MES until it lands`,
      );
    }
  }

  const server: Server = http.createServer(onRequest);
  // Longer than the usual client's keep-alive, so the proxy is not the one closing under it.
  server.keepAliveTimeout = 65_000;
  const admin: Server | undefined = o.adminToken
    ? createAdminServer({ token: o.adminToken, invalidate, rebuild, stats })
    : undefined;

  async function close(): Promise<void> {
    closed = true;
    reconciler.stop();
    invalidations.stop();
    const stopped = (s: Server | undefined): Promise<void> =>
      new Promise<void>((resolve) => (s?.listening ? s.close(() => resolve()) : resolve()));
    await Promise.all([
      stopped(server),
      stopped(admin),
      Promise.allSettled([...inFlight]),
      consumer?.close(),
    ]);
    server.closeAllConnections();
    admin?.closeAllConnections();
    await fills.settled();
    recorder.detach();
    upstream.agent.destroy();
    await store.close();
  }
  let closing: Promise<void> | undefined;
  const closeOnce = (): Promise<void> => (closing ??= close());

  let url: string;
  let adminUrl: string | undefined;
  try {
    url = await listen(server, { host: o.host, port: o.port, what: 'cache proxy (port)' });
    if (admin) {
      adminUrl = await listen(admin, {
        host: o.adminHost,
        port: o.adminPort,
        what: 'cache proxy (adminPort)',
      });
    }
  } catch (error) {
    await closeOnce();
    throw error;
  }

  return { url, adminUrl, invalidate, rebuild, stats, close: closeOnce };
}
