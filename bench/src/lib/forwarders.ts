// Plain reverse proxies for the forwarding comparison of the cache benchmark (docs/decisions):
// http-proxy (the product names it; no release since 2020) with a keep-alive agent, and
// undici's Pool. Each forwards every request unchanged, streaming both ways.
import { Agent, createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import httpProxy from 'http-proxy';
import { Pool } from 'undici';

export interface Forwarder {
  url: string;
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'host',
]);

function listen(server: Server): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve(`http://127.0.0.1:${port}`);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** http-proxy 1.18 with a keep-alive agent (without one it opens a connection per request). */
export async function startHttpProxy(target: string): Promise<Forwarder> {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const proxy = httpProxy.createProxyServer({ target, agent, xfwd: true });
  const server = createServer((req, res) => {
    proxy.web(req, res, {}, () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
  });
  const url = await listen(server);
  return {
    url,
    async close() {
      await closeServer(server);
      proxy.close();
      agent.destroy();
    },
  };
}

/** undici's connection Pool: request() with the incoming stream as body, the answer piped back. */
export async function startUndiciProxy(target: string): Promise<Forwarder> {
  const pool = new Pool(target, { connections: 64, pipelining: 1 });
  const server = createServer((req, res) => {
    const headers: IncomingHttpHeaders = {};
    for (const [name, value] of Object.entries(req.headers))
      if (!HOP_BY_HOP.has(name)) headers[name] = value;
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
    pool
      .request({
        path: req.url ?? '/',
        method: req.method as 'GET',
        headers: headers as Record<string, string>,
        body: hasBody ? req : null,
      })
      .then(async (answer) => {
        const out: Record<string, string | string[]> = {};
        for (const [name, value] of Object.entries(answer.headers))
          if (!HOP_BY_HOP.has(name) && value !== undefined) out[name] = value;
        res.writeHead(answer.statusCode, out);
        await pipeline(answer.body, res);
      })
      .catch(() => {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
  });
  const url = await listen(server);
  return {
    url,
    async close() {
      await closeServer(server);
      await pool.close();
    },
  };
}
