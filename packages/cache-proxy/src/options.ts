// The options of createCacheProxy: their types, defaults (one DEFAULTS object) and the
// validation that turns them, once, into the settings the proxy runs with. A bad option throws
// the kernel's InvalidOptionError naming it, as every meskit factory does.
import type { Cluster, Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import {
  amqpTls,
  optionChecks,
  ORDER_EVENTS_EXCHANGE,
  redisUrlOption,
  TAKE,
  type RedisTarget,
} from '@meskit/kernel';
import type { TEST_HOOKS, TestHooks } from './internal/hooks.js';

/** Options of `createCacheProxy`. Only `upstream` is required. */
export interface CacheProxyOptions {
  /** Base URL of the MES, e.g. `http://127.0.0.1:3000` (http only). Required. */
  upstream: string;
  /** Interface the proxy listens on. Default: `'127.0.0.1'`. */
  host?: string;
  /** Port the proxy listens on; 0 picks a free one (read it from `url`). Default: 8080. */
  port?: number;
  /**
   * Where the indexes live: an ioredis client (`Redis` or `Cluster`; yours: `close()` leaves
   * it open) or a URL (the proxy creates the client and closes it): `redis://` / `rediss://`
   * (TLS parameters `ssl_ca_certs`, `ssl_certfile`, `ssl_keyfile`, `ssl_cert_reqs`,
   * `ssl_check_hostname`), `redis+sentinel://host:port,host:port/<master name>` or
   * `redis+cluster://host:port,host:port` (docs/redis-ha.md). Several proxy instances sharing
   * one Redis share the indexes. Default: none, an in-memory store in this process with the
   * same semantics.
   */
  redis?: Redis | Cluster | string;
  /**
   * Replicas that must acknowledge every index write (Redis `WAIT`, within half of
   * `redisTimeoutMs`)
   * before it counts, so a failover cannot lose a removal a client was told about. A write
   * no replica acknowledged in time still counts (it is on the master), counted in
   * `meskit_cache_proxy_unreplicated_writes_total` and warned about once. Default: 1 on
   * Sentinel and Cluster, 0 on a single Redis.
   */
  redisReplicas?: number;
  /**
   * How long a take's answer waits for its removal from the index when the store cannot be
   * reached (reconnecting, failing over) before it is answered anyway; the removal is retried
   * in the background either way. Another proxy sharing the index may list the taken order
   * until the removal lands: keep this above your failover time (docs/redis-ha.md). 0
   * answers at once. Default: 2000 ms.
   */
  invalidationWaitMs?: number;
  /** Prefix of every Redis key. Default: `'meskit:cache:'`. */
  keyPrefix?: string;
  /**
   * Longest wait for Redis per operation before the request goes to the MES instead (counted,
   * warned about once). Default: 250 ms.
   */
  redisTimeoutMs?: number;
  /** The statuses whose `GET /api/orders?status=` list is served from an index. Default: `['MANUFACTURING_APPROVED']`. */
  statuses?: readonly string[];
  /** Orders read from the MES by one fill (one `pageSize` request; the MES allows 1..100). Default: 100. */
  fillDepth?: number;
  /** Most orders an index holds (write-through may grow it past `fillDepth`). Default: 1000. */
  maxDepth?: number;
  /** How long a filled index is served before the next read fills it again (safety net). Default: 60 000 ms. */
  ttlMs?: number;
  /** How long a removed order is remembered, so a fill that read the MES before the removal cannot put it back. Default: 600 000 ms. */
  tombstoneTtlMs?: number;
  /**
   * Reconcile: every this often each cached list is filled again from the MES in the
   * background (the same protected fill a miss does), so a missed event is corrected within
   * the interval and readers seldom meet an expired index. Keep it below `ttlMs`; 0 turns it
   * off (the index is then refilled only when a read finds it expired). Default: 45 000 ms.
   */
  reconcileIntervalMs?: number;
  /**
   * Stale-if-error: how long past `ttlMs` an expired index still answers when its refill finds
   * the MES down or failing (marked `Cache-Status: meskit; hit; detail=stale-if-error`).
   * Removals keep applying to it meanwhile; writes still go to the MES and fail as it fails.
   * 0 turns it off. Default: 60 000 ms.
   */
  staleIfErrorMs?: number;
  /** Longest wait for the MES before a forwarded request is answered 502 (or a fill given up). Default: 30 000 ms. */
  upstreamTimeoutMs?: number;
  /** Most concurrent connections to the MES. Default: 256. */
  upstreamMaxSockets?: number;
  /**
   * An idle keep-alive connection to the MES is closed after this long, and one second before
   * the MES's own `Keep-Alive: timeout=` when it announces a shorter one. Keep it below the
   * MES's keep-alive timeout, or a request can be written as the MES closes the connection
   * (a GET is then sent again, counted in `meskit_cache_upstream_retries_total`; a POST fails
   * 502). Default: 4 000 ms (below the 5 s of Node and the 75 s of nginx or 130 s of Kestrel).
   */
  upstreamIdleTimeoutMs?: number;
  /**
   * RabbitMQ URL of the MES's order events: write-through of new orders and invalidation of
   * orders taken elsewhere. Default: none (the proxied take and `ttlMs` keep the index right).
   */
  amqpUrl?: string;
  /** Topic exchange of the order events. Default: `'mes.events'`. */
  exchange?: string;
  /**
   * The consumer's queue. Default: `'meskit.cache-proxy.events'` (a durable quorum queue, with
   * its retry queue and `.dlq`, shared by every proxy on the same Redis) with a Redis store;
   * with the memory store, an exclusive queue per process (each process has its own index, so
   * each needs every event).
   */
  queue?: string;
  /** Unacked events in flight at once. Default: 32. */
  prefetch?: number;
  /**
   * Wait (in a retry queue) before an event whose effect could not be applied is tried again;
   * it is tried until it can be. Default: 1000 ms.
   */
  eventRetryDelayMs?: number;
  /** Bearer token of the admin endpoint; the admin server runs only when it is set. Default: none. */
  adminToken?: string;
  /** Interface of the admin server. Default: the value of `host`. */
  adminHost?: string;
  /** Port of the admin server; 0 picks a free one (read it from `adminUrl`). Default: 8081. */
  adminPort?: number;
  /**
   * Serve the list from the index even to requests with an `Authorization` or `Cookie`
   * header. Only safe when every caller may see every order of the list (the MES does not
   * filter it by user). Default: false (such requests are forwarded).
   */
  sharedAuthorization?: boolean;
  /**
   * The prom-client registry the metrics are registered in (reused, not registered twice, when
   * another proxy already did). Default: the process's shared registry
   * (the one otel-bootstrap serves on `/metrics`).
   */
  registry?: Registry;
  /** Internal test hooks (see `internal/hooks.ts`); not part of the public API. */
  [TEST_HOOKS]?: TestHooks;
}

export const DEFAULTS = {
  host: '127.0.0.1',
  port: 8080,
  keyPrefix: 'meskit:cache:',
  redisTimeoutMs: 250,
  invalidationWaitMs: 2000,
  statuses: [TAKE.from] as readonly string[],
  fillDepth: 100,
  maxDepth: 1000,
  ttlMs: 60_000,
  tombstoneTtlMs: 600_000,
  staleIfErrorMs: 60_000,
  reconcileIntervalMs: 45_000,
  upstreamTimeoutMs: 30_000,
  upstreamMaxSockets: 256,
  upstreamIdleTimeoutMs: 4000,
  exchange: ORDER_EVENTS_EXCHANGE,
  queue: 'meskit.cache-proxy.events',
  prefetch: 32,
  eventRetryDelayMs: 1000,
  adminPort: 8081,
  sharedAuthorization: false,
} as const;

export interface Resolved {
  upstream: URL;
  host: string;
  port: number;
  keyPrefix: string;
  redisTimeoutMs: number;
  /** undefined: decided by the client (1 on Sentinel and Cluster, 0 otherwise). */
  redisReplicas: number | undefined;
  invalidationWaitMs: number;
  /** The parsed `redis` URL, when a URL was given. */
  redisTarget: RedisTarget | undefined;
  statuses: readonly string[];
  fillDepth: number;
  maxDepth: number;
  ttlMs: number;
  tombstoneTtlMs: number;
  staleIfErrorMs: number;
  reconcileIntervalMs: number;
  upstreamTimeoutMs: number;
  upstreamMaxSockets: number;
  upstreamIdleTimeoutMs: number;
  amqpUrl: string | undefined;
  exchange: string;
  queue: string | undefined;
  prefetch: number;
  eventRetryDelayMs: number;
  adminToken: string | undefined;
  adminHost: string;
  adminPort: number;
  sharedAuthorization: boolean;
}

const check = optionChecks('createCacheProxy');
const bad = check.invalid;

function int(
  opts: CacheProxyOptions,
  name: keyof typeof DEFAULTS & keyof CacheProxyOptions,
  min: number,
  max: number,
): number {
  return check.integer(name, opts[name] ?? DEFAULTS[name], min, max);
}

export function resolveOptions(opts: CacheProxyOptions): Resolved {
  if (typeof opts !== 'object' || opts === null) {
    throw bad('options', 'must be an object with at least { upstream }');
  }
  let upstream: URL;
  try {
    upstream = new URL(opts.upstream);
  } catch {
    throw bad(
      'upstream',
      `must be the MES's base URL, e.g. "http://127.0.0.1:3000", got ${JSON.stringify(opts.upstream)}`,
    );
  }
  if (upstream.protocol !== 'http:') {
    throw bad(
      'upstream',
      `must be an http:// URL (https to the MES is not supported yet), got "${upstream.protocol}"`,
    );
  }
  if (upstream.pathname !== '/' || upstream.search) {
    throw bad(
      'upstream',
      'must be a base URL without a path or query (the proxy forwards paths unchanged)',
    );
  }
  const statuses = opts.statuses ?? DEFAULTS.statuses;
  if (
    !Array.isArray(statuses) ||
    statuses.length === 0 ||
    !statuses.every((s) => typeof s === 'string' && /^[A-Z_]+$/.test(s))
  ) {
    throw bad(
      'statuses',
      'must be a non-empty array of MES statuses such as "MANUFACTURING_APPROVED"',
    );
  }
  const fillDepth = int(opts, 'fillDepth', 1, 100);
  const maxDepth = int(opts, 'maxDepth', 1, 100_000);
  if (maxDepth < fillDepth) throw bad('maxDepth', `must be at least fillDepth (${fillDepth})`);
  const ttlMs = int(opts, 'ttlMs', 1, 86_400_000);
  const tombstoneTtlMs = int(opts, 'tombstoneTtlMs', 1, 86_400_000);
  const staleIfErrorMs = int(opts, 'staleIfErrorMs', 0, 86_400_000);
  const reconcileIntervalMs = int(opts, 'reconcileIntervalMs', 0, 86_400_000);
  if (tombstoneTtlMs < ttlMs) {
    throw bad(
      'tombstoneTtlMs',
      `must be at least ttlMs (${ttlMs}): a fill may take up to ttlMs to land`,
    );
  }
  for (const name of [
    'adminToken',
    'amqpUrl',
    'exchange',
    'queue',
    'keyPrefix',
    'host',
    'adminHost',
  ] as const) {
    check.optionalText(name, opts[name]);
  }
  if (opts.adminToken !== undefined && opts.adminToken.length < 16) {
    throw bad('adminToken', 'must be at least 16 characters (it guards cache invalidation)');
  }
  if (
    opts.redis !== undefined &&
    typeof opts.redis !== 'string' &&
    typeof opts.redis !== 'object'
  ) {
    throw bad('redis', 'must be an ioredis client or a Redis URL');
  }
  // TLS parameters checked and their files read now: a TlsError at construction, not a
  // Redis that never connects.
  const redisTarget =
    typeof opts.redis === 'string' ? redisUrlOption(check, 'redis', opts.redis) : undefined;
  const redisReplicas =
    opts.redisReplicas === undefined
      ? undefined
      : check.integer('redisReplicas', opts.redisReplicas, 0, 16);
  if (opts.amqpUrl !== undefined) amqpTls(opts.amqpUrl);
  if (opts.sharedAuthorization !== undefined) {
    check.boolean('sharedAuthorization', opts.sharedAuthorization);
  }
  const host = opts.host ?? DEFAULTS.host;
  return {
    upstream,
    host,
    port: int(opts, 'port', 0, 65_535),
    keyPrefix: opts.keyPrefix ?? DEFAULTS.keyPrefix,
    redisTimeoutMs: int(opts, 'redisTimeoutMs', 1, 60_000),
    redisReplicas,
    invalidationWaitMs: int(opts, 'invalidationWaitMs', 0, 600_000),
    redisTarget,
    statuses: [...new Set(statuses)],
    fillDepth,
    maxDepth,
    ttlMs,
    tombstoneTtlMs,
    staleIfErrorMs,
    reconcileIntervalMs,
    upstreamTimeoutMs: int(opts, 'upstreamTimeoutMs', 1, 600_000),
    upstreamMaxSockets: int(opts, 'upstreamMaxSockets', 1, 65_535),
    upstreamIdleTimeoutMs: int(opts, 'upstreamIdleTimeoutMs', 1, 600_000),
    amqpUrl: opts.amqpUrl,
    exchange: opts.exchange ?? DEFAULTS.exchange,
    queue: opts.queue ?? (opts.redis !== undefined ? DEFAULTS.queue : undefined),
    prefetch: int(opts, 'prefetch', 1, 10_000),
    eventRetryDelayMs: int(opts, 'eventRetryDelayMs', 0, 600_000),
    adminToken: opts.adminToken,
    adminHost: opts.adminHost ?? host,
    adminPort: int(opts, 'adminPort', 0, 65_535),
    sharedAuthorization: opts.sharedAuthorization ?? DEFAULTS.sharedAuthorization,
  };
}
