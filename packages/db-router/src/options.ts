// The options of createRouter: types, defaults and validation.
import { optionChecks, postgresTls } from '@meskit/kernel';
import type pg from 'pg';
import type { Registry } from 'prom-client';
import type { RouteDecision } from './types.js';

export type ServerConfig = string | pg.PoolConfig;

export interface RouterOptions {
  /**
   * The primary: a `postgres://` URL or a pg.PoolConfig. Required. TLS: `sslmode=verify-full`
   * and `sslrootcert=<CA file>` in the URL (read by pg; see the kernel's `postgresTls`).
   */
  primary: ServerConfig;
  /** Streaming replicas, same forms. Default: none (everything on the primary). */
  replicas?: readonly ServerConfig[];
  /** How often each server's position and health are polled. Default: 100 ms. */
  pollIntervalMs?: number;
  /** A replica further behind than this (seconds) leaves the read rotation. Default: 10. */
  maxLagSeconds?: number;
  /** Failed polls in a row that take a server out. Default: 2. */
  failuresToOut?: number;
  readYourWrites?: {
    /**
     * A read whose context must see a position no replica has replayed (as last polled) waits
     * this long for one to catch up before the fallback. Default: 0 (the fallback at once: a
     * read right after its own write costs no latency; raise it to move more of those reads to
     * the replicas, at up to this much latency each).
     */
    waitMs?: number;
    /** Then: `'primary'` (default) reads from the primary; `'error'` rejects STALE_REPLICAS. */
    fallback?: 'primary' | 'error';
  };
  /** Connect timeout of the primary's pool unless its config sets one. Default: 1 000 ms. */
  primaryConnectTimeoutMs?: number;
  /** Every routing decision, for a debug log. Default: none. */
  onDecision?: (decision: RouteDecision) => void;
  /** The prom-client registry. Default: the process's shared registry. */
  registry?: Registry;
}

export const ROUTER_DEFAULTS = {
  pollIntervalMs: 100,
  maxLagSeconds: 10,
  failuresToOut: 2,
  waitMs: 0,
  fallback: 'primary',
  primaryConnectTimeoutMs: 1_000,
} as const;

export interface ResolvedRouterOptions {
  primary: pg.PoolConfig;
  replicas: pg.PoolConfig[];
  pollIntervalMs: number;
  maxLagSeconds: number;
  failuresToOut: number;
  waitMs: number;
  fallback: 'primary' | 'error';
}

const check = optionChecks('createRouter');

function serverConfig(option: string, value: unknown): pg.PoolConfig {
  if (typeof value === 'string') {
    if (!/^postgres(ql)?:\/\//.test(value))
      throw check.invalid(option, 'must be a postgres:// URL or a pg.PoolConfig');
    // pg reads sslmode, sslrootcert, sslcert and sslkey from the URL itself (kept whole);
    // checked here so that a bad value or an unreadable file is a TlsError now.
    postgresTls(value);
    return { connectionString: value };
  }
  if (typeof value === 'object' && value !== null) {
    const config = { ...(value as pg.PoolConfig) };
    const url = config.connectionString;
    if (typeof url === 'string' && /^postgres(ql)?:\/\//.test(url)) postgresTls(url);
    return config;
  }
  throw check.invalid(option, 'must be a postgres:// URL or a pg.PoolConfig');
}

export function resolveRouterOptions(opts: RouterOptions): ResolvedRouterOptions {
  check.object('options', opts, '{ primary: DATABASE_URL, replicas: [DATABASE_REPLICA_URL] }');
  const primary = serverConfig('primary', opts.primary);
  primary.connectionTimeoutMillis ??= check.integer(
    'primaryConnectTimeoutMs',
    opts.primaryConnectTimeoutMs ?? ROUTER_DEFAULTS.primaryConnectTimeoutMs,
    1,
    600_000,
  );
  const replicas = opts.replicas ?? [];
  if (!Array.isArray(replicas)) throw check.invalid('replicas', 'must be an array');
  const ryw = opts.readYourWrites ?? {};
  check.object('readYourWrites', ryw, '{ waitMs: 100, fallback: "primary" }');
  if (opts.onDecision !== undefined && typeof opts.onDecision !== 'function')
    throw check.invalid('onDecision', 'must be a function (decision) => void');
  return {
    primary,
    replicas: replicas.map((r, i) => {
      const config = serverConfig(`replicas[${i}]`, r);
      config.connectionTimeoutMillis ??= 1_000;
      return config;
    }),
    pollIntervalMs: check.integer(
      'pollIntervalMs',
      opts.pollIntervalMs ?? ROUTER_DEFAULTS.pollIntervalMs,
      10,
      60_000,
    ),
    maxLagSeconds: check.number(
      'maxLagSeconds',
      opts.maxLagSeconds ?? ROUTER_DEFAULTS.maxLagSeconds,
      0,
      86_400,
    ),
    failuresToOut: check.integer(
      'failuresToOut',
      opts.failuresToOut ?? ROUTER_DEFAULTS.failuresToOut,
      1,
      100,
    ),
    waitMs: check.integer('readYourWrites.waitMs', ryw.waitMs ?? ROUTER_DEFAULTS.waitMs, 0, 60_000),
    fallback: check.oneOf('readYourWrites.fallback', ryw.fallback ?? ROUTER_DEFAULTS.fallback, [
      'primary',
      'error',
    ]),
  };
}

/** A server's `host:port`, as logs, metrics and stats name it. */
export function nameOf(config: pg.PoolConfig): string {
  if (config.connectionString) {
    try {
      const url = new URL(config.connectionString);
      return `${url.hostname}:${url.port || '5432'}`;
    } catch {
      return 'postgres';
    }
  }
  return `${config.host ?? 'localhost'}:${config.port ?? 5432}`;
}
