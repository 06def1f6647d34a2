// Route labels for the HTTP histogram. A label value per distinct URL would make one time
// series per order id and take Prometheus down, so paths are turned into templates and the
// number of distinct templates is capped.
import type { IncomingMessage } from 'node:http';
import { InvalidOptionError } from '@meskit/kernel';
import { DEFAULTS } from '../defaults.js';
import type { NormalizeRoute } from '../options.js';

/** The label of every route past the cap, of unparsable request targets and of unknown methods. */
export const OTHER = 'other';

const ID = ':id';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// Segments this long are data (tokens, base64 blobs), not part of a route.
const MAX_SEGMENT_LENGTH = 40;
const MAX_ROUTE_LENGTH = 200;

const KNOWN_METHODS = new Set([
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'PATCH',
  'OPTIONS',
  'CONNECT',
  'TRACE',
]);

/**
 * The built-in path normaliser: drops the query string and replaces segments that look like
 * identifiers (all digits, a UUID, 16+ hex digits, a run of 3+ digits, 40+ characters)
 * with `:id`. `/orders/42/take?x=1` -> `/orders/:id/take`. Pure: no cap applied.
 */
export function normalizePath(target: string): string {
  let path = target;
  if (path === '') return '/';
  if (!path.startsWith('/')) {
    // Absolute-form targets (proxies) and `*` (OPTIONS *): keep the path of a URL, else `other`.
    try {
      path = new URL(path).pathname;
    } catch {
      return OTHER;
    }
  }
  const end = path.search(/[?#]/);
  if (end !== -1) path = path.slice(0, end);
  if (path === '' || path === '/') return '/';
  // Segment by segment with indexes: a segment is only sliced when it holds a digit, and the
  // route is only rebuilt when a segment is replaced (most paths keep every segment).
  let route = '';
  let copied = 0;
  let start = 0;
  while (start <= path.length) {
    let stop = path.indexOf('/', start);
    if (stop === -1) stop = path.length;
    if (stop > start && looksLikeId(path, start, stop)) {
      route += path.slice(copied, start) + ID;
      copied = stop;
    }
    start = stop + 1;
  }
  if (copied > 0) route += path.slice(copied);
  else route = path;
  return route.length > MAX_ROUTE_LENGTH ? OTHER : route;
}

// Per request on the hot path: character scans first, because segments without digits (the
// route's words) are the common case and need no regex at all.
function looksLikeId(path: string, start: number, stop: number): boolean {
  const length = stop - start;
  if (length >= MAX_SEGMENT_LENGTH) return true;
  let digits = 0;
  let run = 0;
  let allHex = true;
  for (let i = start; i < stop; i++) {
    const c = path.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      digits++;
      // A run of 3+ digits: order numbers, dates and similar business keys.
      if (++run >= 3) return true;
    } else {
      run = 0;
      // a-f, A-F
      if (!((c >= 97 && c <= 102) || (c >= 65 && c <= 70))) allHex = false;
    }
  }
  if (digits === length) return true;
  if (length >= 16 && allHex) return true;
  return digits > 0 && length === 36 && UUID.test(path.slice(start, stop));
}

/** The method label: the standard methods as sent, anything else `other`. */
export function methodLabel(method: string | undefined): string {
  if (method === undefined) return OTHER;
  return KNOWN_METHODS.has(method) ? method : OTHER;
}

export interface RouteNormalizerOptions {
  /** Distinct routes kept; later new routes are labelled `other`. Default: 100. */
  maxRoutes?: number;
  /** The application's own normaliser, tried first; `undefined` falls back to `normalizePath`. Default: none. */
  normalizeRoute?: NormalizeRoute;
}

/**
 * Turns a request into its route label. Remembers the routes it has labelled and, past
 * `maxRoutes`, labels new ones `other`. A 404 from the built-in normaliser never takes a
 * slot (scanners probing random paths would otherwise fill the cap): it reuses a route
 * already seen with another status, or is `other`.
 */
export type RouteLabeler = (request: IncomingMessage, statusCode: number) => string;

/**
 * Builds a route labeler (see RouteLabeler). Throws the kernel's InvalidOptionError
 * (`INVALID_OPTION`) synchronously for a bad option.
 */
export function createRouteNormalizer(options: RouteNormalizerOptions = {}): RouteLabeler {
  const maxRoutes = options.maxRoutes ?? DEFAULTS.maxRoutes;
  if (!Number.isSafeInteger(maxRoutes) || maxRoutes < 1) {
    throw new InvalidOptionError({
      component: 'createRouteNormalizer',
      option: 'maxRoutes',
      problem: `must be a whole number ≥ 1, got ${String(maxRoutes)}`,
    });
  }
  const custom = options.normalizeRoute;
  const seen = new Set<string>();
  return (request, statusCode) => {
    const target = request.url ?? '/';
    if (custom !== undefined) {
      let own: string | undefined;
      try {
        own = custom(target, request);
      } catch {
        // The application's normaliser must not break its own requests' metrics.
        own = undefined;
      }
      if (typeof own === 'string' && own !== '') return admit(own, true);
    }
    return admit(normalizePath(target), statusCode !== 404);
  };

  function admit(route: string, mayTakeSlot: boolean): string {
    if (route === OTHER || seen.has(route)) return route;
    if (!mayTakeSlot || seen.size >= maxRoutes) return OTHER;
    seen.add(route);
    return route;
  }
}
