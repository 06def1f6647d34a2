// The routes each of the proxy's servers answers itself, OpenAPI-style (`/api/orders/{id}`),
// and the matchers the routing is built from, so the tables cannot drift from the code.

export interface RouteEntry {
  readonly method: 'GET' | 'POST';
  /** OpenAPI-style path template: `{name}` is one path segment. */
  readonly path: string;
}

/**
 * The public port's own routes. Every other request (other paths, other statuses) is forwarded
 * to the MES unchanged, POSTs with write-through of the order they answer with.
 */
export const PUBLIC_ROUTES = Object.freeze({
  /** The operators' list: from the index for a cached `status`. */
  list: Object.freeze({ method: 'GET', path: '/api/orders' }),
  /** The take: forwarded, and the order leaves every index before the 2xx is sent. */
  take: Object.freeze({ method: 'POST', path: '/api/orders/{id}/take' }),
} satisfies Record<string, RouteEntry>);

/** The admin server's routes (each behind the bearer token). */
export const ADMIN_ROUTES = Object.freeze({
  stats: Object.freeze({ method: 'GET', path: '/stats' }),
  rebuild: Object.freeze({ method: 'POST', path: '/rebuild' }),
  invalidate: Object.freeze({ method: 'POST', path: '/invalidate/{orderId}' }),
} satisfies Record<string, RouteEntry>);

/** A template's matcher: each `{name}` captures one non-empty path segment. */
export function pathPattern(template: string): RegExp {
  const source = template
    .split('/')
    .map((segment) =>
      /^\{[A-Za-z]+\}$/.test(segment) ? '([^/]+)' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
    )
    .join('/');
  return new RegExp(`^${source}$`);
}
