import type { CacheProxyStats } from '@meskit/cache-proxy';
import { DEFAULTS as CACHE_DEFAULTS } from '@meskit/cache-proxy';
import type { Command } from 'commander';
import { hostPort, probe, type ProbeResponse } from '../doctor/checks/http-probe.js';
import { describeError, oneLine } from '../doctor/describe-error.js';
import { CliError } from '../errors.js';
import { EXIT_CODES } from '../exit-codes.js';
import { pickSetting, urlSetting, wholeNumber } from '../internal/settings.js';
import type { CliContext, RegisterCommand } from '../program.js';

/** Environment variables of `meskit cache ...`, each the fallback of one flag. */
export const CACHE_ADMIN_ENV = {
  adminUrl: 'MESKIT_CACHE_ADMIN_URL',
  adminToken: 'MESKIT_CACHE_ADMIN_TOKEN',
} as const;

/** Where the admin endpoint of a `meskit cache-proxy` with default settings listens. */
export const DEFAULT_ADMIN_URL = `http://${CACHE_DEFAULTS.host}:${CACHE_DEFAULTS.adminPort}`;
const DEFAULT_TIMEOUT_MS = 5_000;
const MAX_BODY_IN_MESSAGE = 160;

interface AdminFlags {
  adminUrl?: string;
  adminToken?: string;
  timeoutMs?: string;
  json?: boolean;
}

interface Admin {
  url: URL;
  /** `host:port`, for messages. */
  endpoint: string;
  token: string;
  timeoutMs: number;
}

/** `meskit cache stats|invalidate|rebuild`: the admin endpoint of a running cache proxy. */
export const registerCacheCommand: RegisterCommand = (program: Command, ctx: CliContext) => {
  const cache = program
    .command('cache')
    .summary("talk to a running cache proxy's admin endpoint (stats, invalidate, rebuild)")
    .description(
      `Talks to the admin endpoint of a running \`meskit cache-proxy\` (started with an admin token). Settings: --admin-url (env ${CACHE_ADMIN_ENV.adminUrl}, default ${DEFAULT_ADMIN_URL}) and the token (env ${CACHE_ADMIN_ENV.adminToken}, or --admin-token).`,
    );
  const withAdminOptions = (command: Command): Command =>
    command
      .option(
        '--admin-url <url>',
        `admin endpoint of the proxy (default ${DEFAULT_ADMIN_URL}; env ${CACHE_ADMIN_ENV.adminUrl})`,
      )
      .option(
        '--admin-token <token>',
        `its bearer token; prefer the variable, a flag shows in ps (env ${CACHE_ADMIN_ENV.adminToken})`,
      )
      .option(
        '--timeout-ms <ms>',
        `how long to wait for the proxy (default ${DEFAULT_TIMEOUT_MS})`,
      );

  withAdminOptions(
    cache
      .command('stats')
      .summary('counters of the proxy: hit ratio, fills, invalidations, events, Redis errors')
      .option('--json', "print the proxy's stats as one JSON object (plus hitRatio)"),
  ).action(async (flags: AdminFlags) => {
    const admin = resolveAdmin(flags, ctx);
    const response = await call(admin, 'GET', '/stats', ctx);
    if (!response) return;
    if (response.statusCode !== 200) return refuse(admin, 'GET /stats', response, ctx);
    const stats = parseStats(response.body);
    if (!stats) return notTheProxy(admin, 'GET /stats', response, ctx);
    const hitRatio = ratio(stats);
    if (flags.json) {
      ctx.stdout.write(`${JSON.stringify({ ...stats, hitRatio })}\n`);
    } else {
      ctx.stdout.write(formatStats(admin.endpoint, stats, hitRatio));
    }
  });

  withAdminOptions(
    cache
      .command('invalidate')
      .summary('remove one order from every cached list at once')
      .argument('<orderId>', 'the order id, a positive whole number'),
  ).action(async (orderId: string, flags: AdminFlags) => {
    if (!/^[1-9][0-9]{0,15}$/.test(orderId) || !Number.isSafeInteger(Number(orderId))) {
      throw new CliError(
        'USAGE',
        `the order id must be a positive whole number, got "${oneLine(orderId).slice(0, 40)}"`,
      );
    }
    const admin = resolveAdmin(flags, ctx);
    const response = await call(admin, 'POST', `/invalidate/${orderId}`, ctx);
    if (!response) return;
    if (response.statusCode !== 204)
      return refuse(admin, `POST /invalidate/${orderId}`, response, ctx);
    ctx.stdout.write(
      `order ${orderId} removed from every cached list of the proxy at ${admin.endpoint}: no page read from now on lists it\n`,
    );
  });

  withAdminOptions(
    cache
      .command('rebuild')
      .summary('drop every cached list; the next read of each fills it from the MES')
      .description(
        "Drops every cached list (every proxy sharing the same Redis sees it); the next read of each list fills it from the MES. For after a bulk import or a restore behind the MES's back.",
      ),
  ).action(async (flags: AdminFlags) => {
    const admin = resolveAdmin(flags, ctx);
    const response = await call(admin, 'POST', '/rebuild', ctx);
    if (!response) return;
    if (response.statusCode !== 204) return refuse(admin, 'POST /rebuild', response, ctx);
    ctx.stdout.write(
      `every cached list of the proxy at ${admin.endpoint} dropped: the next read of each list fills it from the MES\n`,
    );
  });
};

function resolveAdmin(flags: AdminFlags, ctx: CliContext): Admin {
  const urlSettingRaw = pickSetting(ctx.env, '--admin-url', flags.adminUrl, [
    CACHE_ADMIN_ENV.adminUrl,
  ]) ?? { raw: DEFAULT_ADMIN_URL, origin: 'the default admin URL' };
  const url = urlSetting(urlSettingRaw, ['http:', 'https:']);
  const token = pickSetting(ctx.env, '--admin-token', flags.adminToken, [
    CACHE_ADMIN_ENV.adminToken,
  ]);
  if (!token) {
    throw new CliError(
      'CONFIG',
      `no admin token: set ${CACHE_ADMIN_ENV.adminToken} (or pass --admin-token) to the token the proxy was started with`,
    );
  }
  const timeout = pickSetting(ctx.env, '--timeout-ms', flags.timeoutMs, []);
  return {
    url,
    endpoint: hostPort(url),
    token: token.raw,
    timeoutMs: timeout ? wholeNumber(timeout, 1, 600_000) : DEFAULT_TIMEOUT_MS,
  };
}

/** One request to the admin endpoint; undefined (exit 1, reason on stderr) when it got none. */
async function call(
  admin: Admin,
  method: 'GET' | 'POST',
  path: string,
  ctx: CliContext,
): Promise<ProbeResponse | undefined> {
  const url = new URL(admin.url.href);
  // Keep a path prefix the endpoint may be mounted under behind a reverse proxy.
  url.pathname = `${url.pathname.replace(/\/+$/, '')}${path}`;
  url.search = '';
  url.username = '';
  url.password = '';
  try {
    return await probe(url, {
      method,
      headers: { authorization: `Bearer ${admin.token}`, accept: 'application/json' },
      signal: AbortSignal.timeout(admin.timeoutMs),
    });
  } catch (error) {
    const reason =
      error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')
        ? `no answer within ${admin.timeoutMs} ms`
        : describeError(error);
    fail(
      ctx,
      `cannot reach the cache proxy's admin endpoint at ${admin.endpoint}: ${reason} (is \`meskit cache-proxy\` running there with an admin token? set --admin-url or ${CACHE_ADMIN_ENV.adminUrl})`,
    );
    return undefined;
  }
}

function fail(ctx: CliContext, message: string): void {
  ctx.stderr.write(`error: ${message}\n`);
  ctx.setExitCode(EXIT_CODES.failed);
}

/** A non-success answer from the admin endpoint, said in words (exit 1). */
function refuse(admin: Admin, what: string, response: ProbeResponse, ctx: CliContext): void {
  if (response.statusCode === 401) {
    fail(
      ctx,
      `the admin token was refused by the cache proxy at ${admin.endpoint} (401): ${CACHE_ADMIN_ENV.adminToken} must be the token the proxy was started with`,
    );
    return;
  }
  const error = errorOf(response.body);
  if (response.statusCode === 503 && error?.code === 'STORE_UNAVAILABLE') {
    fail(
      ctx,
      `the cache proxy at ${admin.endpoint} cannot reach its store (Redis): ${error.message}`,
    );
    return;
  }
  if (response.statusCode === 400 && error) {
    fail(ctx, `the cache proxy at ${admin.endpoint} refused ${what}: ${error.message}`);
    return;
  }
  notTheProxy(admin, what, response, ctx);
}

function notTheProxy(admin: Admin, what: string, response: ProbeResponse, ctx: CliContext): void {
  const starts = oneLine(response.body).slice(0, MAX_BODY_IN_MESSAGE);
  fail(
    ctx,
    `${what} at ${admin.endpoint} answered ${response.statusText}${starts ? ` "${starts}"` : ''}, not what a cache proxy's admin endpoint answers; point --admin-url (or ${CACHE_ADMIN_ENV.adminUrl}) at the admin port of \`meskit cache-proxy\` (${CACHE_DEFAULTS.adminPort} by default, not its public port)`,
  );
}

function errorOf(body: string): { code: string; message: string } | undefined {
  try {
    const parsed = JSON.parse(body) as { error?: { code?: unknown; message?: unknown } };
    const { code, message } = parsed.error ?? {};
    if (typeof code === 'string' && typeof message === 'string') return { code, message };
  } catch {
    // not JSON
  }
  return undefined;
}

function parseStats(body: string): CacheProxyStats | undefined {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return undefined;
  }
  const s = value as Partial<CacheProxyStats> | null;
  if (
    typeof s?.requests?.hit !== 'number' ||
    typeof s.requests.miss !== 'number' ||
    typeof s.requests.stale !== 'number' ||
    typeof s.requests.bypass !== 'number' ||
    typeof s.invalidations !== 'object' ||
    typeof s.events !== 'object'
  )
    return undefined;
  return s as CacheProxyStats;
}

/** Share of the cached lists' requests answered from the index without asking the MES. */
function ratio(stats: CacheProxyStats): number | null {
  const { hit, miss, stale, bypass } = stats.requests;
  const total = hit + miss + stale + bypass;
  return total === 0 ? null : hit / total;
}

function formatStats(endpoint: string, s: CacheProxyStats, hitRatio: number | null): string {
  const { hit, miss, stale, bypass } = s.requests;
  const total = hit + miss + stale + bypass;
  const consumer =
    s.consumer === 'off'
      ? 'no event consumer'
      : s.consumer === 'connected'
        ? 'event consumer connected'
        : 'event consumer DISCONNECTED (reconnecting)';
  const lines: [string, string][] = [
    [
      'hit ratio',
      hitRatio === null
        ? 'no list requests yet'
        : `${(hitRatio * 100).toFixed(1)} % (${hit} of ${total} list requests answered from the index)`,
    ],
    ['list requests', `${hit} hit, ${miss} miss, ${stale} stale, ${bypass} bypass`],
    ['forwarded', `${s.forwarded} (every request passed to the MES unchanged)`],
    ['fills', `${s.fills} (one MES list request each)`],
    [
      'invalidations',
      `${s.invalidations.proxy} by takes through the proxy, ${s.invalidations.event} by events, ${s.invalidations.admin} by the admin endpoint`,
    ],
    ['write-through', `${s.writes} orders added from events`],
    [
      'events',
      `${s.events.applied} applied, ${s.events.failed} failed (requeued), ${s.events.poison} poison, ${s.events.ignored} ignored`,
    ],
    ['redis errors', String(s.redisErrors)],
    [
      'pending removals',
      `${s.pendingInvalidations} waiting for the store, ${s.droppedInvalidations} dropped`,
    ],
  ];
  const width = Math.max(...lines.map(([label]) => label.length));
  const out = [
    `cache proxy at ${endpoint}: ${s.store === 'redis' ? 'Redis' : 'in-memory'} store, ${consumer}`,
    ...lines.map(([label, value]) => `  ${label.padEnd(width)}  ${value}`),
  ];
  const attention: string[] = [];
  if (s.pendingInvalidations > 0 || s.droppedInvalidations > 0)
    attention.push(
      'removals are waiting for the store: reads of the affected lists go to the MES until they land',
    );
  if (s.redisErrors > 0)
    attention.push(
      `the store failed ${s.redisErrors} ${s.redisErrors === 1 ? 'time' : 'times'} since the proxy started (those requests went to the MES); if it still does, check Redis: meskit doctor --only redis`,
    );
  if (s.consumer === 'disconnected')
    attention.push(
      'the event consumer is disconnected: orders taken elsewhere leave the list only on expiry; check RabbitMQ, e.g. meskit doctor --only rabbitmq',
    );
  for (const note of attention) out.push(`note: ${note}`);
  return `${out.join('\n')}\n`;
}
