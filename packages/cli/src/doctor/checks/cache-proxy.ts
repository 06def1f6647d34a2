// `cache-proxy`: the cache sidecar (`meskit cache-proxy`) answers the operators' first page with
// its `Cache-Status` header (RFC 9211). The header says how the page was answered: from the
// index, filled from the MES, or forwarded because the store (Redis) is failing.
import { urlCheck } from '../../internal/check-helpers.js';
import { oneLine } from '../describe-error.js';
import type { DoctorCheck } from '../types.js';
import { getSidecar } from './http-probe.js';

/** The page every operator loads: the newest approved orders, one of them is enough. */
export const CACHE_PROXY_PROBE_PATH = '/api/orders?status=MANUFACTURING_APPROVED&page=1&pageSize=1';
const MAX_BODY_IN_MESSAGE = 120;
/** Store failures: the proxy works, but forwards the list to the MES uncached. */
const STORE_TROUBLE = /detail=(redis-error|invalidation-pending)/;

/** `cache-proxy`: GET <cache-proxy-url>/api/orders?status=MANUFACTURING_APPROVED... */
export const cacheProxyCheck: DoctorCheck = urlCheck({
  id: 'cache-proxy',
  title: 'Cache proxy',
  setting: 'cacheProxyUrl',
  async run(ctx, base) {
    const { response, shown, endpoint } = await getSidecar(ctx, probeUrl(base), {
      name: 'the cache proxy',
      command: 'meskit cache-proxy',
      maxBodyBytes: 4096,
    });
    const header = response.headers['cache-status'];
    const cacheStatus = Array.isArray(header) ? header.join(', ') : (header ?? '');
    const details = { url: shown, statusCode: response.statusCode, cacheStatus };
    if (!cacheStatus || !/^meskit\b/.test(cacheStatus)) {
      // An error page says what answered; a 2xx body (the MES's own list) would only be noise.
      const ok = response.statusCode >= 200 && response.statusCode <= 299;
      const starts = ok ? '' : oneLine(response.body).slice(0, MAX_BODY_IN_MESSAGE);
      return {
        status: 'fail',
        message: `GET ${shown} answered ${response.statusText}${starts ? ` "${starts}"` : ''} without a "Cache-Status: meskit" header: not the cache proxy (the MES itself?); point --cache-proxy-url at \`meskit cache-proxy\` (port 8080 by default)`,
        details,
      };
    }
    if (response.statusCode === 502 && cacheStatus.includes('detail=upstream-error')) {
      return {
        status: 'fail',
        message: `the cache proxy at ${endpoint} cannot reach the MES (502, Cache-Status: ${cacheStatus}): the list cannot be filled; check the MES and the proxy's --upstream`,
        details,
      };
    }
    if (response.statusCode < 200 || response.statusCode > 299) {
      return {
        status: 'fail',
        message: `the first page through the cache proxy at ${endpoint} answered ${response.statusText} (Cache-Status: ${cacheStatus})`,
        details,
      };
    }
    if (STORE_TROUBLE.test(cacheStatus)) {
      return {
        status: 'warn',
        message: `the cache proxy at ${endpoint} answers, but its store (Redis) is failing (Cache-Status: ${cacheStatus}): the list is forwarded to the MES, uncached and slow, until it recovers; check Redis (meskit doctor --only redis) and meskit_cache_redis_errors_total`,
        details,
      };
    }
    return {
      status: 'pass',
      message: `the cache proxy at ${endpoint} answers the first page: ${meaning(cacheStatus)} (Cache-Status: ${cacheStatus})`,
      details,
    };
  },
});

function meaning(cacheStatus: string): string {
  if (/;\s*hit\b/.test(cacheStatus)) return 'served from its index';
  if (/fwd=(miss|stale)/.test(cacheStatus)) return 'its index was filled from the MES';
  if (/fwd=bypass/.test(cacheStatus))
    return 'forwarded to the MES uncached (is MANUFACTURING_APPROVED among its --statuses?)';
  return 'answered';
}

/** `<base>` + the probe path, keeping a path prefix the proxy is mounted under. */
function probeUrl(base: string): URL {
  const url = new URL(base);
  const path = url.pathname.replace(/\/+$/, '');
  const probePath = new URL(CACHE_PROXY_PROBE_PATH, 'http://x.invalid');
  url.pathname = `${path}${probePath.pathname}`;
  url.search = probePath.search;
  url.hash = '';
  return url;
}
