// The admin endpoint: its own port, a bearer token compared in constant time.
//   POST /invalidate/:orderId  -> 204 (the order left every cached index), 401, 400, 503
//   POST /rebuild              -> 204 (every cached list dropped; the next reads fill), 401, 503
//   GET  /stats                -> 200 the proxy's stats() as JSON, 401
import { createHash, timingSafeEqual } from 'node:crypto';
import http, { type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { sendJson } from './forward.js';
import { ADMIN_ROUTES, pathPattern } from './routes.js';

const INVALIDATE_PATH = pathPattern(ADMIN_ROUTES.invalidate.path);

export interface AdminOptions {
  token: string;
  invalidate(orderId: number): Promise<void>;
  rebuild(): Promise<void>;
  stats(): unknown;
}

/** Digests first: timingSafeEqual needs equal lengths, and the length must not leak either. */
function sameToken(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

export function createAdminServer(opts: AdminOptions): Server {
  return http.createServer((req, res) => {
    void handle(opts, req, res).catch(() => {
      sendJson(res, 500, { error: { code: 'INTERNAL', message: 'admin request failed' } });
    });
  });
}

async function handle(
  opts: AdminOptions,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  req.resume(); // no endpoint reads a body; drain it so the socket can be reused
  const auth = req.headers.authorization ?? '';
  const match = /^Bearer\s+(.+)$/i.exec(auth);
  if (!match || !sameToken(match[1]!.trim(), opts.token)) {
    sendJson(
      res,
      401,
      {
        error: {
          code: 'UNAUTHORIZED',
          message: 'a valid "Authorization: Bearer <adminToken>" header is required',
        },
      },
      { 'www-authenticate': 'Bearer realm="meskit-cache-proxy"' },
    );
    return;
  }
  const path = new URL(req.url ?? '/', 'http://admin.invalid').pathname;
  const only = (method: string): boolean => {
    if (req.method === method) return true;
    sendJson(
      res,
      405,
      { error: { code: 'METHOD_NOT_ALLOWED', message: `use ${method}` } },
      { allow: method },
    );
    return false;
  };
  if (path === ADMIN_ROUTES.stats.path) {
    if (only(ADMIN_ROUTES.stats.method)) sendJson(res, 200, opts.stats());
    return;
  }
  if (path === ADMIN_ROUTES.rebuild.path) {
    if (!only(ADMIN_ROUTES.rebuild.method)) return;
    try {
      await opts.rebuild();
    } catch (error) {
      sendJson(res, 503, {
        error: {
          code: 'STORE_UNAVAILABLE',
          message: `${error instanceof Error ? error.message : String(error)}`,
        },
      });
      return;
    }
    res.writeHead(204).end();
    return;
  }
  const route = INVALIDATE_PATH.exec(path);
  if (!route) {
    sendJson(res, 404, { error: { code: 'NOT_FOUND', message: `no such endpoint: ${path}` } });
    return;
  }
  if (!only(ADMIN_ROUTES.invalidate.method)) return;
  const text = route[1]!;
  const orderId = /^[1-9][0-9]{0,15}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(orderId)) {
    sendJson(res, 400, {
      error: { code: 'INVALID_ID', message: `order id must be a positive integer, got "${text}"` },
    });
    return;
  }
  try {
    await opts.invalidate(orderId);
  } catch (error) {
    sendJson(res, 503, {
      error: {
        code: 'STORE_UNAVAILABLE',
        message: `${error instanceof Error ? error.message : String(error)}`,
      },
    });
    return;
  }
  res.writeHead(204).end();
}
