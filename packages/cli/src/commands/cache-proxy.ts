import { connect } from 'node:net';
import {
  InvalidOptionError,
  ListenError,
  createCacheProxy,
  DEFAULTS as CACHE_DEFAULTS,
  type CacheProxy,
  type CacheProxyOptions,
} from '@meskit/cache-proxy';
import type { Command } from 'commander';
import { describeError } from '../doctor/describe-error.js';
import { CliError } from '../errors.js';
import { describeRedisTarget, redisTarget } from '@meskit/kernel';
import {
  pickSetting,
  redisUrlSetting,
  untilSignal,
  urlSetting,
  wholeNumber,
  type RawSetting,
} from '../internal/settings.js';
import type { CliContext, OutputStream, RegisterCommand } from '../program.js';

/**
 * Environment variables of `meskit cache-proxy`, each the fallback of one flag. Where two
 * are listed, the first set one wins (the sidecar's own, then the ecosystem's).
 */
export const CACHE_PROXY_ENV = {
  upstream: ['MESKIT_CACHE_UPSTREAM'],
  host: ['MESKIT_CACHE_HOST'],
  port: ['MESKIT_CACHE_PORT'],
  redisUrl: ['MESKIT_CACHE_REDIS_URL', 'REDIS_URL'],
  redisReplicas: ['MESKIT_CACHE_REDIS_REPLICAS'],
  invalidationWaitMs: ['MESKIT_CACHE_INVALIDATION_WAIT_MS'],
  amqpUrl: ['MESKIT_CACHE_AMQP_URL', 'AMQP_URL'],
  exchange: ['MESKIT_CACHE_EXCHANGE'],
  statuses: ['MESKIT_CACHE_STATUSES'],
  ttlMs: ['MESKIT_CACHE_TTL_MS'],
  staleIfErrorMs: ['MESKIT_CACHE_STALE_IF_ERROR_MS'],
  reconcileIntervalMs: ['MESKIT_CACHE_RECONCILE_INTERVAL_MS'],
  fillDepth: ['MESKIT_CACHE_FILL_DEPTH'],
  maxDepth: ['MESKIT_CACHE_MAX_DEPTH'],
  keyPrefix: ['MESKIT_CACHE_KEY_PREFIX'],
  adminToken: ['MESKIT_CACHE_ADMIN_TOKEN'],
  adminHost: ['MESKIT_CACHE_ADMIN_HOST'],
  adminPort: ['MESKIT_CACHE_ADMIN_PORT'],
} as const satisfies Record<string, readonly string[]>;

type Setting = keyof typeof CACHE_PROXY_ENV;

const FLAGS: Record<Setting, string> = {
  upstream: '--upstream',
  host: '--host',
  port: '--port',
  redisUrl: '--redis-url',
  redisReplicas: '--redis-replicas',
  invalidationWaitMs: '--invalidation-wait-ms',
  amqpUrl: '--amqp-url',
  exchange: '--exchange',
  statuses: '--statuses',
  ttlMs: '--ttl-ms',
  staleIfErrorMs: '--stale-if-error-ms',
  reconcileIntervalMs: '--reconcile-interval-ms',
  fillDepth: '--fill-depth',
  maxDepth: '--max-depth',
  keyPrefix: '--key-prefix',
  adminToken: '--admin-token',
  adminHost: '--admin-host',
  adminPort: '--admin-port',
};

/** The library's option names (InvalidOptionError's `option`), mapped to our settings. */
const OPTION_TO_SETTING: Partial<Record<keyof CacheProxyOptions, Setting>> = {
  upstream: 'upstream',
  host: 'host',
  port: 'port',
  redis: 'redisUrl',
  redisReplicas: 'redisReplicas',
  invalidationWaitMs: 'invalidationWaitMs',
  amqpUrl: 'amqpUrl',
  exchange: 'exchange',
  statuses: 'statuses',
  ttlMs: 'ttlMs',
  staleIfErrorMs: 'staleIfErrorMs',
  reconcileIntervalMs: 'reconcileIntervalMs',
  fillDepth: 'fillDepth',
  maxDepth: 'maxDepth',
  keyPrefix: 'keyPrefix',
  adminToken: 'adminToken',
  adminHost: 'adminHost',
  adminPort: 'adminPort',
};

type Flags = Partial<Record<Setting, string>>;

const DEFAULT_PORTS: Readonly<Record<string, number>> = {
  'http:': 80,
  'redis:': 6379,
  'rediss:': 6379,
  'amqp:': 5672,
  'amqps:': 5671,
};

/** How long the start-up reachability probe of the MES may take before it is reported. */
const UPSTREAM_PROBE_MS = 3_000;

const env = (setting: Setting): string => CACHE_PROXY_ENV[setting].join(', then ');

/** `meskit cache-proxy`: the cache sidecar, a thin wrapper over createCacheProxy. */
export const registerCacheProxyCommand: RegisterCommand = (program: Command, ctx: CliContext) => {
  program
    .command('cache-proxy')
    .summary('the cache sidecar: serves the new-orders list in front of the MES')
    .description(
      'Runs @meskit/cache-proxy as a reverse proxy in front of the MES: every request passes to the MES unchanged except GET /api/orders?status=<a cached status>, which is cut from an index in Redis (or in memory) and kept right by the takes it forwards, the MES\'s order events on RabbitMQ and the admin endpoint. Point the operators\' dashboard at it instead of the MES. Prints one JSON line {"event":"listening","url":...,"adminUrl":...} once ready; SIGTERM or SIGINT stops it after the requests in progress (exit 0).',
    )
    .option('--upstream <url>', `base URL of the MES, http:// (required; env ${env('upstream')})`)
    .option(
      '--host <address>',
      `address to listen on (default ${CACHE_DEFAULTS.host}; env ${env('host')})`,
    )
    .option(
      '--port <n>',
      `port, 0 for any free one (default ${CACHE_DEFAULTS.port}; env ${env('port')})`,
    )
    .option(
      '--redis-url <url>',
      `keep the index in Redis, shared by every proxy using it: redis://, rediss://, redis+sentinel://host:port,.../<master> or redis+cluster://host:port,... (default: in this process's memory; env ${env('redisUrl')})`,
    )
    .option(
      '--redis-replicas <n>',
      `replicas that must acknowledge each index write (WAIT) (default 1 on Sentinel and Cluster, 0 on one Redis; env ${env('redisReplicas')})`,
    )
    .option(
      '--invalidation-wait-ms <n>',
      `how long a take's answer waits for its removal while Redis fails over; keep it above the failover time (default ${CACHE_DEFAULTS.invalidationWaitMs}; env ${env('invalidationWaitMs')})`,
    )
    .option(
      '--amqp-url <url>',
      `consume the MES's order events from RabbitMQ: new approved orders enter the list, orders taken elsewhere leave it (default: no consumer; env ${env('amqpUrl')})`,
    )
    .option(
      '--exchange <name>',
      `topic exchange of the order events (default ${CACHE_DEFAULTS.exchange}; env ${env('exchange')})`,
    )
    .option(
      '--statuses <list>',
      `comma-separated statuses whose list is cached (default ${CACHE_DEFAULTS.statuses.join(',')}; env ${env('statuses')})`,
    )
    .option(
      '--ttl-ms <n>',
      `a filled index is served this long, then filled again (default ${CACHE_DEFAULTS.ttlMs}; env ${env('ttlMs')})`,
    )
    .option(
      '--reconcile-interval-ms <n>',
      `every cached list is filled again from the MES this often, correcting missed events; 0: off (default ${CACHE_DEFAULTS.reconcileIntervalMs}; env ${env('reconcileIntervalMs')})`,
    )
    .option(
      '--stale-if-error-ms <n>',
      `while the MES fails, an expired list still answers this long past --ttl-ms; 0: off (default ${CACHE_DEFAULTS.staleIfErrorMs}; env ${env('staleIfErrorMs')})`,
    )
    .option(
      '--fill-depth <n>',
      `orders one fill reads from the MES, 1 to 100 (default ${CACHE_DEFAULTS.fillDepth}; env ${env('fillDepth')})`,
    )
    .option(
      '--max-depth <n>',
      `most orders an index holds; deeper pages go to the MES (default ${CACHE_DEFAULTS.maxDepth}; env ${env('maxDepth')})`,
    )
    .option(
      '--key-prefix <prefix>',
      `prefix of every Redis key (default ${CACHE_DEFAULTS.keyPrefix}; env ${env('keyPrefix')})`,
    )
    .option(
      '--admin-token <token>',
      `bearer token of the admin endpoint, 16+ characters; prefer the variable, a flag shows in ps (default: no admin endpoint; env ${env('adminToken')})`,
    )
    .option(
      '--admin-host <address>',
      `address of the admin endpoint (default: --host; env ${env('adminHost')})`,
    )
    .option(
      '--admin-port <n>',
      `port of the admin endpoint, 0 for any free one (default ${CACHE_DEFAULTS.adminPort}; env ${env('adminPort')})`,
    )
    .addHelpText(
      'after',
      [
        '',
        'Admin endpoint (with --admin-token): meskit cache stats | invalidate ORDER_ID | rebuild.',
        'Metrics (meskit_cache_*) and traces: run it under the telemetry bootstrap, e.g.',
        '  NODE_OPTIONS="--import @meskit/otel-bootstrap/register" MESKIT_METRICS_PORT=9465 meskit cache-proxy --upstream http://mes:3000',
        '',
        'Example:',
        '  MESKIT_CACHE_ADMIN_TOKEN=$(openssl rand -hex 24) REDIS_URL=redis://cache:6379 AMQP_URL=amqp://mq \\',
        '    meskit cache-proxy --upstream http://mes:3000 --host 0.0.0.0 --port 8080',
      ].join('\n'),
    )
    .action(async (flags: Flags) => {
      const options = resolveOptions(flags, ctx.env);
      const stopped = untilSignal();
      let proxy: CacheProxy;
      try {
        proxy = await createCacheProxy(options);
      } catch (error) {
        throw toCliError(error, flags, ctx.env);
      }
      ctx.stdout.write(
        `${JSON.stringify({ event: 'listening', url: proxy.url, adminUrl: proxy.adminUrl ?? null })}\n`,
      );
      describeSetup(options, ctx.stderr);
      void warnIfUnreachable(new URL(options.upstream), ctx.stderr);
      const signal = await stopped;
      ctx.stderr.write(
        `cache-proxy: ${signal}: finishing the requests and events in progress, then stopping\n`,
      );
      await proxy.close();
    });
};

/** Flags over env vars; checks what the CLI can name better than the library would. */
function resolveOptions(
  flags: Flags,
  environment: Readonly<Record<string, string | undefined>>,
): CacheProxyOptions & { upstream: string } {
  const pick = (setting: Setting): RawSetting | undefined =>
    pickSetting(environment, FLAGS[setting], flags[setting], CACHE_PROXY_ENV[setting]);
  const text = (setting: Setting): string | undefined => pick(setting)?.raw;
  const number = (setting: Setting, min: number, max: number): number | undefined => {
    const found = pick(setting);
    return found ? wholeNumber(found, min, max) : undefined;
  };

  const upstream = pick('upstream');
  if (!upstream) {
    throw new CliError(
      'CONFIG',
      'no MES to proxy: pass --upstream http://<mes-host>:<port> or set MESKIT_CACHE_UPSTREAM',
    );
  }
  urlSetting(upstream, ['http:']);
  const redis = pick('redisUrl');
  if (redis) redisUrlSetting(redis);
  const amqp = pick('amqpUrl');
  if (amqp) urlSetting(amqp, ['amqp:', 'amqps:']);
  const statuses = pick('statuses');
  let statusList: string[] | undefined;
  if (statuses) {
    statusList = statuses.raw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const bad = statusList.find((s) => !/^[A-Z_]+$/.test(s));
    if (statusList.length === 0 || bad !== undefined) {
      throw new CliError(
        'CONFIG',
        `invalid ${statuses.origin}: expected comma-separated MES statuses such as MANUFACTURING_APPROVED${bad !== undefined ? `, got "${bad}"` : ''}`,
      );
    }
  }
  const token = pick('adminToken');
  if (token && token.raw.length < 16) {
    // The value itself is never echoed: it is a secret, even when it is a bad one.
    throw new CliError(
      'CONFIG',
      `invalid ${token.origin}: the admin token must be at least 16 characters (it guards cache invalidation), got ${token.raw.length}; e.g. openssl rand -hex 24`,
    );
  }
  const adminPort = number('adminPort', 0, 65_535);
  const adminHost = text('adminHost');
  if (!token && (adminPort !== undefined || adminHost !== undefined)) {
    throw new CliError(
      'CONFIG',
      'an admin port or host is set but no admin token: set MESKIT_CACHE_ADMIN_TOKEN (or --admin-token) to run the admin endpoint',
    );
  }

  const options: CacheProxyOptions & { upstream: string } = { upstream: upstream.raw };
  const set = <K extends keyof CacheProxyOptions>(key: K, value: CacheProxyOptions[K]): void => {
    if (value !== undefined) options[key] = value;
  };
  set('host', text('host'));
  set('port', number('port', 0, 65_535));
  set('redis', redis?.raw);
  set('redisReplicas', number('redisReplicas', 0, 16));
  set('invalidationWaitMs', number('invalidationWaitMs', 0, 600_000));
  set('amqpUrl', amqp?.raw);
  set('exchange', text('exchange'));
  set('statuses', statusList);
  set('ttlMs', number('ttlMs', 1, 86_400_000));
  set('staleIfErrorMs', number('staleIfErrorMs', 0, 86_400_000));
  set('reconcileIntervalMs', number('reconcileIntervalMs', 0, 86_400_000));
  set('fillDepth', number('fillDepth', 1, 100));
  set('maxDepth', number('maxDepth', 1, 100_000));
  set('keyPrefix', text('keyPrefix'));
  set('adminToken', token?.raw);
  set('adminHost', adminHost);
  set('adminPort', adminPort);
  return options;
}

/** What the proxy will do, on stderr: never credentials, never the token. */
function describeSetup(options: CacheProxyOptions & { upstream: string }, stderr: OutputStream) {
  const at = (raw: string): string => {
    const url = new URL(raw);
    return `${url.hostname}:${url.port || (DEFAULT_PORTS[url.protocol] ?? '')}`;
  };
  const statuses = (options.statuses ?? CACHE_DEFAULTS.statuses).join(', ');
  stderr.write(`cache-proxy: proxying the MES at ${at(options.upstream)}, caching ${statuses}\n`);
  const ttl = options.ttlMs ?? CACHE_DEFAULTS.ttlMs;
  stderr.write(
    typeof options.redis === 'string'
      ? `cache-proxy: index in Redis at ${describeRedisTarget(redisTarget(options.redis))} (key prefix ${options.keyPrefix ?? CACHE_DEFAULTS.keyPrefix})\n`
      : "cache-proxy: no Redis configured (--redis-url, MESKIT_CACHE_REDIS_URL or REDIS_URL): the index lives in this process's memory; it is not shared with other instances and is refilled after a restart\n",
  );
  stderr.write(
    options.amqpUrl
      ? `cache-proxy: order events from RabbitMQ at ${at(options.amqpUrl)}, exchange ${options.exchange ?? CACHE_DEFAULTS.exchange}\n`
      : `cache-proxy: no RabbitMQ configured (--amqp-url, MESKIT_CACHE_AMQP_URL or AMQP_URL): no event consumer; orders taken other than through this proxy leave the list only when the index expires (--ttl-ms ${ttl}), new orders enter it then too\n`,
  );
  if (!options.adminToken) {
    stderr.write(
      'cache-proxy: no admin token (MESKIT_CACHE_ADMIN_TOKEN or --admin-token): no admin endpoint, so `meskit cache stats|invalidate|rebuild` cannot reach this proxy\n',
    );
  }
}

/** The library's errors as the CLI's: options named by flag and variable, exit 2 or 1. */
function toCliError(
  error: unknown,
  flags: Flags,
  environment: Readonly<Record<string, string | undefined>>,
): unknown {
  if (error instanceof ListenError) {
    return new CliError('LISTEN_FAILED', error.message, { cause: error });
  }
  if (error instanceof InvalidOptionError) {
    // "createCacheProxy: option upstream must be ..." -> "invalid --upstream: must be ...".
    const setting = OPTION_TO_SETTING[error.option as keyof CacheProxyOptions];
    const prefix = `${error.component}: option ${error.option} `;
    if (setting && error.message.startsWith(prefix)) {
      const origin =
        pickSetting(environment, FLAGS[setting], flags[setting], CACHE_PROXY_ENV[setting])
          ?.origin ?? FLAGS[setting];
      return new CliError('CONFIG', `invalid ${origin}: ${error.message.slice(prefix.length)}`, {
        cause: error,
      });
    }
    return new CliError('CONFIG', error.message, { cause: error });
  }
  return error;
}

/**
 * Says on stderr, once, when the MES does not accept connections at start-up: the proxy runs
 * anyway (the MES may be starting too), but every request to it will answer 502 until it does.
 */
async function warnIfUnreachable(upstream: URL, stderr: OutputStream): Promise<void> {
  const port = Number(upstream.port || 80);
  const reason = await new Promise<string | undefined>((resolve) => {
    const socket = connect({ host: upstream.hostname, port });
    socket.unref();
    socket.setTimeout(UPSTREAM_PROBE_MS, () => {
      socket.destroy();
      resolve(`no connection within ${UPSTREAM_PROBE_MS} ms`);
    });
    socket.once('connect', () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.once('error', (error) => resolve(describeError(error)));
  });
  if (reason !== undefined) {
    stderr.write(
      `cache-proxy: warning: the MES at ${upstream.hostname}:${port} does not accept connections (${reason}); requests through the proxy answer 502 UPSTREAM_UNAVAILABLE until it does\n`,
    );
  }
}
