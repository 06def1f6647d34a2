// The operators' list, `GET /api/orders?status=<cached status>`: answered from the index (a kept
// rendering while the store's version is unchanged, else cut from the index), filled from the
// MES on a miss, from the expired index while the MES fails (stale-if-error), or forwarded.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Fills } from './fills.js';
import type { Invalidations } from './invalidations.js';
import { renderPage } from './orders.js';
import { CACHE, type PassThrough } from './pass-through.js';
import type { Recorder } from './recorder.js';
import type { IndexStore } from './store.js';

/** Rendered pages kept per proxy; past it the map starts again. */
const MAX_RENDERED_PAGES = 256;

/** The MES's query-parameter rule for page and pageSize. */
function intParam(text: string | null, fallback: number): number | undefined {
  if (text === null) return fallback;
  if (!/^[0-9]{1,9}$/.test(text)) return undefined;
  return Number(text);
}

export type ListRoute = (
  req: IncomingMessage,
  res: ServerResponse,
  query: URLSearchParams,
) => Promise<void>;

export function createListRoute(opts: {
  statuses: readonly string[];
  sharedAuthorization: boolean;
  maxDepth: number;
  staleIfErrorMs: number;
  store: IndexStore;
  fills: Fills;
  invalidations: Invalidations;
  recorder: Recorder;
  pass: PassThrough;
}): ListRoute {
  const { store, fills, recorder, pass } = opts;

  function send(res: ServerResponse, status: string, body: Buffer, cacheStatus: string): void {
    res.writeHead(200, {
      'content-type': fills.contentType(status),
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

  return async function serveList(req, res, q) {
    const status = q.get('status');
    if (status === null || !opts.statuses.includes(status)) return pass(req, res, undefined, false);
    if (
      !opts.sharedAuthorization &&
      (req.headers.authorization !== undefined || req.headers.cookie !== undefined)
    ) {
      return pass(req, res, 'credentials');
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
      return pass(req, res, 'invalid');
    }
    const offset = (page - 1) * pageSize;
    if (offset + pageSize > opts.maxDepth) return pass(req, res, 'beyond-depth');
    if (opts.invalidations.pendingFor(status)) return pass(req, res, 'invalidation-pending');

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
          recorder.hit();
          return send(res, status, rendered.body, `${CACHE}; hit`);
        }
      }
      first = await store.page(status, offset, pageSize);
    } catch (error) {
      recorder.storeFailed(error);
      return pass(req, res, 'redis-error');
    }
    if (first.kind === 'hit') {
      recorder.request('hit');
      const body = renderPage(page, pageSize, first.total, first.docs);
      if (first.version !== undefined) keepRendered(renderKey, first.version, body);
      return send(res, status, body, `${CACHE}; hit`);
    }
    if (first.kind === 'deep') return pass(req, res, 'beyond-depth');

    const result = first.kind === 'stale' ? 'stale' : 'miss';
    const { promise, initiator } = fills.fillOnce(status);
    const filled = await promise;
    if (filled.outcome === 'written') {
      let second;
      try {
        second = await store.page(status, offset, pageSize);
      } catch (error) {
        recorder.storeFailed(error);
        second = undefined;
      }
      if (second?.kind === 'hit') {
        recorder.request(result);
        const how = initiator ? 'stored' : 'collapsed';
        const body = renderPage(page, pageSize, second.total, second.docs);
        return send(res, status, body, `${CACHE}; fwd=${result}; ${how}`);
      }
      if (second?.kind === 'deep') return pass(req, res, 'beyond-depth');
    }
    // The index was not written (or cannot serve this page). The request that started the fill
    // began before its read of the MES, so the snapshot is as fresh as it needs; requests that
    // joined later may have begun after a take was acknowledged, so they ask the MES.
    const snapshot = filled.snapshot;
    if (initiator && snapshot) {
      const complete = snapshot.items.length >= snapshot.total;
      if (offset + pageSize <= snapshot.items.length || complete) {
        recorder.request(result);
        const docs = snapshot.items
          .slice(offset, offset + pageSize)
          .map((item) => JSON.stringify(item));
        const detail = filled.outcome === 'store_error' ? 'redis-error' : filled.outcome;
        const body = renderPage(page, pageSize, snapshot.total, docs);
        return send(res, status, body, `${CACHE}; fwd=${result}; detail=${detail}`);
      }
    }
    // Stale-if-error: the MES is down or failing, and the expired index is younger than
    // ttlMs + staleIfErrorMs (its data expire then). Removals still apply to it, so no order
    // taken through the proxy or announced by an event comes back.
    if (filled.outcome === 'upstream_error' && opts.staleIfErrorMs > 0) {
      let stale;
      try {
        stale = await store.page(status, offset, pageSize, { expired: true });
      } catch (error) {
        recorder.storeFailed(error);
        stale = undefined;
      }
      if (stale?.kind === 'hit') {
        recorder.request('staleIfError');
        const body = renderPage(page, pageSize, stale.total, stale.docs);
        return send(res, status, body, `${CACHE}; hit; detail=stale-if-error`);
      }
    }
    return pass(
      req,
      res,
      filled.outcome === 'store_error' ? 'redis-error' : `fill-${filled.outcome.replace('_', '-')}`,
    );
  };
}
