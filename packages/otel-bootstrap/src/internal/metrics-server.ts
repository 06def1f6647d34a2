import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describeError } from '@meskit/kernel';
import { Registry } from 'prom-client';
import { markInternalServer } from './http-request-state.js';
import { renderOpenMetrics } from './metrics.js';
import { warnOnce } from './warn.js';

const METRICS_ROUTE = Object.freeze({ method: 'GET', path: '/metrics' } as const);

/** The metrics server's one route (HEAD answered too); `handle()` serves exactly this. */
export const METRICS_SERVER_ROUTES = Object.freeze([METRICS_ROUTE]);

export interface MetricsServer {
  /** The `/metrics` URL once listening; undefined when it could not listen. */
  readonly url: Promise<string | undefined>;
  close(): Promise<void>;
}

/**
 * Serves the registry at GET /metrics on its own port, apart from the application's port.
 * The Prometheus text format by default; OpenMetrics (with exemplars) when the scraper's
 * Accept header asks for `application/openmetrics-text`, as Prometheus does by default.
 * A port in use is one warning; metrics are still recorded, so nothing else changes.
 */
export function startMetricsServer(registry: Registry, host: string, port: number): MetricsServer {
  const server: Server = createServer((request, response) => {
    void handle(registry, request, response);
  });
  markInternalServer(server);
  // Scrapes must never keep the host alive, nor delay its exit.
  server.unref();
  // A dead scraper must not hold a socket forever.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;

  const url = new Promise<string | undefined>((resolve) => {
    server.once('listening', () => {
      const address = server.address() as AddressInfo;
      const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      resolve(`http://${shownHost}:${address.port}/metrics`);
    });
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') {
        warnOnce(
          'MESKIT_OTEL_METRICS_PORT_IN_USE',
          `cannot serve /metrics on ${host}:${port}: the port is in use. Metrics are still recorded but not served; set MESKIT_METRICS_PORT to a free port (0 = any free port) or off`,
        );
      } else {
        warnOnce(
          'MESKIT_OTEL_METRICS_LISTEN_FAILED',
          `cannot serve /metrics on ${host}:${port}: ${describeError(err)}. Metrics are still recorded but not served`,
        );
      }
      resolve(undefined);
    });
  });
  server.listen(port, host);

  let closing: Promise<void> | undefined;
  return {
    url,
    close() {
      closing ??= new Promise<void>((resolve) => {
        if (!server.listening) {
          resolve();
          return;
        }
        server.close(() => resolve());
        // Prometheus keeps its scrape connection alive; do not wait for it to give up.
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

async function handle(
  registry: Registry,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  const path = (request.url ?? '/').split('?')[0];
  if (path !== METRICS_ROUTE.path) {
    response
      .writeHead(404, { 'content-type': 'text/plain; charset=utf-8' })
      .end('not found: metrics are served at /metrics\n');
    return;
  }
  if (request.method !== METRICS_ROUTE.method && request.method !== 'HEAD') {
    response
      .writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' })
      .end('method not allowed\n');
    return;
  }
  try {
    const openMetrics = /application\/openmetrics-text/i.test(request.headers.accept ?? '');
    const body = openMetrics ? await renderOpenMetrics(registry) : await registry.metrics();
    response.writeHead(200, {
      'content-type': openMetrics
        ? Registry.OPENMETRICS_CONTENT_TYPE
        : Registry.PROMETHEUS_CONTENT_TYPE,
      'cache-control': 'no-store',
    });
    response.end(request.method === 'HEAD' ? undefined : body);
  } catch (err) {
    // A collect callback of some metric threw: answer 500 so the scrape shows up as failed.
    response
      .writeHead(500, { 'content-type': 'text/plain; charset=utf-8' })
      .end(`cannot collect metrics: ${describeError(err)}\n`);
  }
}
