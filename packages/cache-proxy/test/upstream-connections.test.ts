// The proxy's kept-alive connections to the MES. An idle one is closed by the proxy before the
// MES closes it (so no request is written on a connection being closed), and should that race
// be lost anyway, a bodiless read is sent once more on a new connection while a request with a
// body is not replayed. The MES here is a plain node:http server that plays the lost race: it
// resets a kept-alive connection when a second request arrives on it.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createCacheProxy, type CacheProxy } from '../dist/index.js';
import { get, post } from './helpers.js';

interface FakeMes {
  url: string;
  server: Server;
  /** Requests that reached the handler, by method and path. */
  seen: string[];
  /** Server-side sockets in the order they were accepted. */
  sockets: Socket[];
}

const LIST = '/api/orders?status=MANUFACTURING_APPROVED';

async function fakeMes(opts: {
  resetReused: boolean;
  keepAliveTimeoutMs?: number;
}): Promise<FakeMes> {
  const seen: string[] = [];
  const sockets: Socket[] = [];
  const served = new WeakMap<Socket, number>();
  const server = createServer((req: IncomingMessage, res) => {
    const socket = req.socket;
    const count = (served.get(socket) ?? 0) + 1;
    served.set(socket, count);
    if (opts.resetReused && count > 1) {
      // The lost race: the request arrived on a connection the MES is closing.
      socket.resetAndDestroy();
      return;
    }
    req.resume();
    req.once('end', () => {
      seen.push(`${req.method} ${req.url}`);
      const body = req.url?.startsWith('/api/orders?')
        ? '{"items":[],"page":1,"pageSize":100,"total":0}'
        : '{"ok":true}';
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    });
  });
  if (opts.keepAliveTimeoutMs !== undefined) server.keepAliveTimeout = opts.keepAliveTimeoutMs;
  server.on('connection', (socket: Socket) => sockets.push(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, server, seen, sockets };
}

let proxy: CacheProxy | undefined;
let mes: FakeMes | undefined;
let registry: Registry;

afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
  mes?.server.closeAllConnections();
  await new Promise<void>((resolve) => (mes ? mes.server.close(() => resolve()) : resolve()));
  mes = undefined;
});

async function startProxy(
  upstream: string,
  extra: { upstreamIdleTimeoutMs?: number } = {},
): Promise<CacheProxy> {
  registry = new Registry();
  return createCacheProxy({ upstream, port: 0, registry, ...extra });
}

/** Resolves when the server-side socket ends, with whether the proxy (the peer) ended it. */
function ended(socket: Socket): Promise<'by-proxy' | 'by-mes'> {
  return new Promise((resolve) => {
    let peerEnded = false;
    socket.once('end', () => (peerEnded = true));
    socket.once('close', () => resolve(peerEnded ? 'by-proxy' : 'by-mes'));
  });
}

describe('connections to the MES', () => {
  it('a forwarded GET whose reused connection is reset is sent again on a new one, and counted', async () => {
    mes = await fakeMes({ resetReused: true });
    proxy = await startProxy(mes.url);
    expect((await get(proxy.url, '/api/orders/1')).status).toBe(200);
    const second = await get(proxy.url, '/api/orders/2');
    expect(second.status).toBe(200);
    expect(mes.seen).toEqual(['GET /api/orders/1', 'GET /api/orders/2']);
    expect(mes.sockets).toHaveLength(2);
    expect(proxy.stats().upstreamRetries).toBe(1);
    expect(await registry.metrics()).toMatch(/^meskit_cache_upstream_retries_total 1$/m);
  });

  it("a fill's GET is sent again the same way", async () => {
    mes = await fakeMes({ resetReused: true });
    proxy = await startProxy(mes.url);
    expect((await get(proxy.url, '/api/orders/1')).status).toBe(200);
    const list = await get(proxy.url, LIST);
    expect(list.status).toBe(200);
    expect(list.json.total).toBe(0);
    expect(mes.seen[1]).toMatch(/^GET \/api\/orders\?status=MANUFACTURING_APPROVED&/);
    expect(proxy.stats().upstreamRetries).toBe(1);
  });

  it('a request with a body is not replayed: the client gets the 502, the MES saw it once at most', async () => {
    mes = await fakeMes({ resetReused: true });
    proxy = await startProxy(mes.url);
    expect((await get(proxy.url, '/api/orders/1')).status).toBe(200);
    const answer = await post(proxy.url, '/api/customers', { name: 'Ada' });
    expect(answer.status).toBe(502);
    expect(answer.json).toMatchObject({ error: { code: 'UPSTREAM_UNAVAILABLE' } });
    expect(mes.seen).toEqual(['GET /api/orders/1']);
    expect(proxy.stats().upstreamRetries).toBe(0);
  });

  it('an idle connection is closed by the proxy after upstreamIdleTimeoutMs, not left to the MES', async () => {
    mes = await fakeMes({ resetReused: false, keepAliveTimeoutMs: 60_000 });
    proxy = await startProxy(mes.url, { upstreamIdleTimeoutMs: 200 });
    expect((await get(proxy.url, '/api/orders/1')).status).toBe(200);
    expect(await ended(mes.sockets[0]!)).toBe('by-proxy');
  });

  it("the proxy closes an idle connection before the MES's announced Keep-Alive timeout", async () => {
    // Node announces `Keep-Alive: timeout=2`; the proxy's own default (4 s) is longer, so the
    // hint is what makes it close first (one second before the MES would).
    mes = await fakeMes({ resetReused: false, keepAliveTimeoutMs: 2_000 });
    proxy = await startProxy(mes.url);
    expect((await get(proxy.url, '/api/orders/1')).status).toBe(200);
    expect(await ended(mes.sockets[0]!)).toBe('by-proxy');
  });
});
