// `pricing`: the pricing sidecar (`meskit pricing serve`) answers /readyz. The sidecar reports
// not-ready (503 `busy`) while its pool's queue is full: it works, but refuses new quotes.
import { urlCheck } from '../../internal/check-helpers.js';
import { oneLine } from '../describe-error.js';
import type { CheckOutcome, DoctorCheck } from '../types.js';
import { getSidecar } from './http-probe.js';

const MAX_BODY_IN_MESSAGE = 120;

/** What `GET /readyz` of the sidecar answers (pricing-runner's createPricingServer). */
interface Readiness {
  status: 'ready' | 'busy';
  queued: number;
  busy: number;
  threads: number;
  jobs: number;
}

/** `pricing`: GET <pricing-url>/readyz answers 200 `ready` (pass) or 503 `busy` (warn). */
export const pricingCheck: DoctorCheck = urlCheck({
  id: 'pricing',
  title: 'Pricing sidecar',
  setting: 'pricingUrl',
  async run(ctx, base) {
    const { response, shown, endpoint } = await getSidecar(ctx, readyzUrl(base), {
      name: 'the pricing sidecar',
      command: 'meskit pricing serve',
    });
    const readiness = parseReadiness(response.body);
    const details = { url: shown, statusCode: response.statusCode, ...readiness };
    if (readiness && response.statusCode === 200 && readiness.status === 'ready') {
      return {
        status: 'pass',
        message: `pricing sidecar at ${endpoint} is ready: ${load(readiness)}`,
        details,
      };
    }
    if (readiness && response.statusCode === 503 && readiness.status === 'busy') {
      return {
        status: 'warn',
        message: `pricing sidecar at ${endpoint} is busy (queue full): ${load(readiness)}; new quotes are refused with 503 QUEUE_FULL until the queue drains; if it stays busy, add --threads or replicas`,
        details,
      };
    }
    return notTheSidecar(shown, response.statusText, response.body, details);
  },
});

function load({ threads, busy, queued }: Readiness): string {
  return `${threads} ${threads === 1 ? 'thread' : 'threads'} (${busy} busy), ${queued} queued`;
}

function notTheSidecar(
  shown: string,
  statusText: string,
  body: string,
  details: Record<string, unknown>,
): CheckOutcome {
  const starts = oneLine(body).slice(0, MAX_BODY_IN_MESSAGE);
  return {
    status: 'fail',
    message: `GET ${shown} answered ${statusText}${starts ? ` "${starts}"` : ''}, not the pricing sidecar's readiness; point --pricing-url at \`meskit pricing serve\` (port 8790 by default)`,
    details,
  };
}

/** `<base>/readyz`, keeping any path prefix the sidecar is mounted under behind a proxy. */
function readyzUrl(base: string): URL {
  const url = new URL(base);
  const path = url.pathname.replace(/\/+$/, '');
  url.pathname = path.endsWith('/readyz') ? path : `${path}/readyz`;
  url.search = '';
  url.hash = '';
  return url;
}

function parseReadiness(body: string): Readiness | undefined {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return undefined;
  }
  const r = value as Partial<Readiness> | null;
  if (
    (r?.status !== 'ready' && r?.status !== 'busy') ||
    typeof r.queued !== 'number' ||
    typeof r.busy !== 'number' ||
    typeof r.threads !== 'number'
  )
    return undefined;
  return {
    status: r.status,
    queued: r.queued,
    busy: r.busy,
    threads: r.threads,
    jobs: typeof r.jobs === 'number' ? r.jobs : 0,
  };
}
