// Every HTTP server meskit runs, by the environment variable holding its base URL, with the
// route table its own code exports (each built from, or dispatched on, that table).
import { CACHE_PROXY_ROUTES } from '@meskit/cache-proxy';
import { METRICS_SERVER_ROUTES } from '@meskit/otel-bootstrap';
import { PRICING_SERVER_ROUTES } from '@meskit/pricing-runner';
import { MES_ROUTES } from '@meskit/reference-mes';

export interface Route {
  readonly method: string;
  /** OpenAPI-style path template. */
  readonly path: string;
}

export interface ServerRoutes {
  /** What the server is, for messages. */
  readonly title: string;
  /** Where its routes come from, for messages. */
  readonly source: string;
  readonly routes: readonly Route[];
  /** The server forwards what it does not answer itself to this one (by its variable). */
  readonly forwardsTo?: string;
  /** Its GET routes answer HEAD too. */
  readonly head?: boolean;
}

export const SERVERS: Readonly<Record<string, ServerRoutes>> = {
  mesUrl: {
    title: 'the reference MES',
    source: 'MES_ROUTES of @meskit/reference-mes',
    routes: MES_ROUTES,
  },
  proxyUrl: {
    title: "cache-proxy's public port",
    source: 'CACHE_PROXY_ROUTES.public of @meskit/cache-proxy',
    routes: CACHE_PROXY_ROUTES.public,
    forwardsTo: 'mesUrl',
  },
  adminUrl: {
    title: "cache-proxy's admin server",
    source: 'CACHE_PROXY_ROUTES.admin of @meskit/cache-proxy',
    routes: CACHE_PROXY_ROUTES.admin,
  },
  pricingUrl: {
    title: 'the pricing sidecar (meskit pricing serve)',
    source: 'PRICING_SERVER_ROUTES of @meskit/pricing-runner',
    routes: Object.values(PRICING_SERVER_ROUTES),
    head: true,
  },
  metricsUrl: {
    title: "otel-bootstrap's /metrics server",
    source: 'METRICS_SERVER_ROUTES of @meskit/otel-bootstrap',
    routes: METRICS_SERVER_ROUTES,
    head: true,
  },
};

/** `GET /api/orders/{id}`. */
export function routeKey(method: string, path: string): string {
  return `${method.toUpperCase()} ${path}`;
}

/** Whether `server` serves `method path` itself. */
export function serves(server: ServerRoutes, method: string, path: string): boolean {
  const upper = method.toUpperCase();
  const asked = upper === 'HEAD' && server.head ? 'GET' : upper;
  return server.routes.some((route) => route.method === asked && route.path === path);
}
