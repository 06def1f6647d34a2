// `loki`: the Loki that @meskit/otel-bootstrap ships log lines to (MESKIT_LOKI_URL).
import { describeError } from '../describe-error.js';
import { withTls } from '../tls-facts.js';
import type { CheckContext, DoctorCheck } from '../types.js';
import {
  envValue,
  hostPort,
  httpUrl,
  parseHeaderList,
  probe,
  type ProbeResponse,
} from './http-probe.js';

const PUSH_PATH = 'loki/api/v1/push';

/**
 * `loki`: GET <url>/ready answers 2xx; where /ready does not exist (gateways, managed Loki,
 * VictoriaLogs) an empty push must be accepted instead. Credentials in the URL are sent as
 * basic auth, MESKIT_LOKI_HEADERS as headers, the same way otel-bootstrap sends them.
 */
export const lokiCheck: DoctorCheck = {
  id: 'loki',
  title: 'Loki (log shipping)',
  async run(ctx) {
    const raw = envValue(ctx.config.env, 'MESKIT_LOKI_URL');
    if (raw === undefined)
      return { status: 'skip', message: 'not configured: set MESKIT_LOKI_URL' };
    const url = httpUrl(raw);
    if (!url)
      return {
        status: 'fail',
        message: 'MESKIT_LOKI_URL is not an http(s) URL, e.g. http://loki:3100',
      };

    const headers: Record<string, string> = {
      ...parseHeaderList(ctx.config.env['MESKIT_LOKI_HEADERS']),
    };
    if (url.username || url.password) {
      const credentials = `${safeDecode(url.username)}:${safeDecode(url.password)}`;
      headers['authorization'] = `Basic ${Buffer.from(credentials).toString('base64')}`;
    }
    url.username = '';
    url.password = '';
    // MESKIT_LOKI_URL may be the base address or the full push URL.
    const basePath = url.pathname.replace(/\/+$/, '').replace(new RegExp(`/${PUSH_PATH}$`), '');
    const at = hostPort(url);

    const ready = await request(ctx, new URL(`${basePath}/ready`, url), 'GET', headers);
    if (ready.statusCode >= 200 && ready.statusCode < 300) {
      return withTls(
        {
          status: 'pass',
          message: `Loki at ${at} is ready (GET /ready answered ${ready.statusText})`,
          details: { statusCode: ready.statusCode },
        },
        ready.tls,
      );
    }
    if (ready.statusCode !== 404) return failure(`GET ${at}${basePath}/ready`, ready);

    const push = await request(ctx, new URL(`${basePath}/${PUSH_PATH}`, url), 'POST', {
      ...headers,
      'content-type': 'application/json',
    });
    if (push.statusCode >= 200 && push.statusCode < 300) {
      return withTls(
        {
          status: 'pass',
          message: `Loki push API at ${at} accepted an empty push (${push.statusText}; it has no /ready)`,
          details: { statusCode: push.statusCode },
        },
        push.tls,
      );
    }
    return failure(`POST ${at}${basePath}/${PUSH_PATH}`, push);
  },
};

async function request(
  ctx: CheckContext,
  url: URL,
  method: 'GET' | 'POST',
  headers: Record<string, string>,
): Promise<ProbeResponse> {
  const shown = `${method} ${hostPort(url)}${url.pathname}`;
  ctx.step(`waiting for ${shown}`);
  try {
    return await probe(url, {
      method,
      headers,
      ...(method === 'POST' ? { body: '{"streams":[]}' } : {}),
      signal: ctx.signal,
    });
  } catch (err) {
    throw new Error(`cannot reach Loki: ${shown} failed: ${describeError(err)}`, { cause: err });
  }
}

function failure(what: string, response: ProbeResponse) {
  const hint =
    response.statusCode === 401 || response.statusCode === 403
      ? ': check the credentials (user:password in MESKIT_LOKI_URL) and MESKIT_LOKI_HEADERS (e.g. X-Scope-OrgID)'
      : response.statusCode === 503
        ? ': Loki is not ready (starting up, or an ingester is unhealthy)'
        : '';
  return {
    status: 'fail' as const,
    message: `${what} answered ${response.statusText}, expected 2xx${hint}`,
    details: { statusCode: response.statusCode },
  };
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
