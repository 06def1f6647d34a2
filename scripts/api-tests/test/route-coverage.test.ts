// Every route of every meskit HTTP server has a request in api/, and every request names a
// route of the server its URL addresses (or sits in an "Unrouted" folder, probing 404s and
// 405s on purpose). The route tables are the servers' own exports (see src/servers.ts).
import { describe, expect, it } from 'vitest';
import {
  UNROUTED_FOLDER,
  loadCollections,
  requestsOf,
  type CollectionRequest,
} from '../src/collections.js';
import { SERVERS, routeKey, serves, type ServerRoutes } from '../src/servers.js';

const requests = loadCollections().flatMap(requestsOf);
const where = (r: CollectionRequest): string =>
  `${r.collection}: ${r.trail.join(' / ')} (${routeKey(r.method, r.path)})`;

/** The server that answers the request itself, or by forwarding; undefined when none does. */
function answering(r: CollectionRequest): ServerRoutes | undefined {
  const server = r.server === undefined ? undefined : SERVERS[r.server];
  if (!server) return undefined;
  if (serves(server, r.method, r.path)) return server;
  const upstream = server.forwardsTo === undefined ? undefined : SERVERS[server.forwardsTo];
  return upstream && serves(upstream, r.method, r.path) ? upstream : undefined;
}

describe("the collections in api/ against the servers' routes", () => {
  it('address every request to a known server variable', () => {
    const known = new Set(Object.keys(SERVERS));
    const strays = requests.filter((r) => r.server === undefined || !known.has(r.server));
    expect(
      strays.map((r) => `${where(r)}: URL starts with ${r.server ?? 'no {{variable}}'}`),
      `every URL starts with one of ${[...known].map((k) => `{{${k}}}`).join(', ')}`,
    ).toEqual([]);
  });

  it.each(Object.entries(SERVERS))('have a request for every route of %s', (variable, server) => {
    const covered = new Set(
      requests
        .filter((r) => !r.unrouted && r.server === variable && serves(server, r.method, r.path))
        .map((r) => routeKey(r.method === 'HEAD' ? 'GET' : r.method, r.path)),
    );
    const missing = server.routes
      .map((route) => routeKey(route.method, route.path))
      .filter((key) => !covered.has(key));
    expect(missing, `routes of ${server.title} (${server.source}) that no request names`).toEqual(
      [],
    );
  });

  it('name only routes the servers serve', () => {
    const unknown = requests.filter((r) => !r.unrouted && answering(r) === undefined);
    expect(
      unknown.map(where),
      `requests naming no route of their server (use :param path variables named as the route's {param}; a deliberate 404/405 probe belongs in a folder "${UNROUTED_FOLDER}")`,
    ).toEqual([]);
  });

  it(`keep the probes in "${UNROUTED_FOLDER}" off the routes`, () => {
    const routed = requests.filter((r) => r.unrouted && answering(r) !== undefined);
    expect(routed.map(where), 'probes that name a real route: move them out').toEqual([]);
  });

  it('match path templates exactly: a literal segment is no {param}', () => {
    const mes = SERVERS['mesUrl']!;
    expect(serves(mes, 'GET', '/api/orders/{id}')).toBe(true);
    expect(serves(mes, 'GET', '/api/orders/42')).toBe(false);
    expect(serves(mes, 'POST', '/api/orders/{id}')).toBe(false);
    expect(serves(SERVERS['metricsUrl']!, 'HEAD', '/metrics')).toBe(true);
    expect(serves(mes, 'HEAD', '/health')).toBe(false);
  });
});
