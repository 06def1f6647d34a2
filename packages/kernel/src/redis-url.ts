// Where a meskit component's Redis is, from one URL, and the ioredis client that reaches it:
// - a single Redis: `redis://` or `rediss://` (TLS parameters: tls-urls.ts);
// - Sentinel: `redis+sentinel://[user:password@]host:port[,host:port...]/<master name>[/<db>]`,
//   with `sentinel_username` / `sentinel_password` when the Sentinels ask for their own;
// - Cluster: `redis+cluster://[user:password@]host:port[,host:port...]`, every host a seed.
// The `redis+sentinel` form is the one Celery, Sidekiq add-ons and several Python and Go
// clients read; ioredis itself has no URL for either.
import { EventEmitter } from 'node:events';
import { Cluster, Redis, type ClusterNode } from 'ioredis';
import { MeskitError, redactUrl } from './errors.js';
import type { OptionChecks } from './options.js';
import type { TlsSettings } from './tls.js';
import { redisTls } from './tls-urls.js';

export class RedisUrlError extends MeskitError<'REDIS_BAD_URL'> {}

export interface RedisHost {
  host: string;
  port: number;
}

export type RedisTarget =
  | { topology: 'standalone'; tls: TlsSettings }
  | {
      topology: 'sentinel';
      sentinels: RedisHost[];
      /** The master's name, as the Sentinels monitor it. */
      name: string;
      db: number;
      username?: string;
      password?: string;
      sentinelUsername?: string;
      sentinelPassword?: string;
    }
  | { topology: 'cluster'; nodes: RedisHost[]; username?: string; password?: string };

const MULTI_HOST =
  /^(rediss?)\+(sentinel|cluster):\/\/(?:([^@/?#]*)@)?([^/?#]*)([^?#]*)(\?[^#]*)?$/;

function bad(url: string, problem: string): RedisUrlError {
  return new RedisUrlError('REDIS_BAD_URL', `${redactUrl(url)} ${problem}`);
}

function hostsOf(url: string, list: string, defaultPort: number): RedisHost[] {
  if (list === '') throw bad(url, 'names no host: give host:port[,host:port...]');
  return list.split(',').map((entry) => {
    const match = /^(\[[^\]]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(entry);
    const port = match?.[2] === undefined ? defaultPort : Number(match[2]);
    if (!match || port < 1 || port > 65_535)
      throw bad(url, `has "${entry}" where a host[:port] belongs`);
    return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
  });
}

function credentials(userinfo: string | undefined): { username?: string; password?: string } {
  if (userinfo === undefined || userinfo === '') return {};
  const colon = userinfo.indexOf(':');
  const user = decodeURIComponent(colon < 0 ? userinfo : userinfo.slice(0, colon));
  const password = colon < 0 ? undefined : decodeURIComponent(userinfo.slice(colon + 1));
  return {
    ...(user !== '' ? { username: user } : {}),
    ...(password !== undefined && password !== '' ? { password } : {}),
  };
}

/**
 * Reads a Redis URL of any of the three forms. Throws RedisUrlError (REDIS_BAD_URL) for a
 * malformed one, and TlsError for bad TLS parameters of a `rediss://` URL.
 */
export function redisTarget(url: string): RedisTarget {
  if (/^rediss?:\/\//i.test(url)) return { topology: 'standalone', tls: redisTls(url) };
  const match = MULTI_HOST.exec(url);
  if (!match)
    throw bad(
      url,
      'is not a Redis URL: use redis://, rediss://, redis+sentinel://hosts/<master name> or redis+cluster://hosts',
    );
  const [, scheme, topology, userinfo, hostList, path, query] = match;
  if (scheme === 'rediss')
    throw bad(
      url,
      `asks for TLS, which meskit does not set up from a ${topology} URL yet: create an ioredis ${topology === 'cluster' ? 'Cluster with redisOptions.tls' : 'Redis with sentinels, tls and sentinelTLS'} and pass the client instead`,
    );
  const params = new URLSearchParams(query ?? '');
  const allowed = topology === 'sentinel' ? ['sentinel_username', 'sentinel_password'] : [];
  for (const key of params.keys())
    if (!allowed.includes(key))
      throw bad(
        url,
        `has the parameter ${key}, which a ${topology} URL does not take${allowed.length ? ` (it takes ${allowed.join(', ')})` : ''}`,
      );
  const auth = credentials(userinfo);
  if (topology === 'cluster') {
    if (path !== '' && path !== '/')
      throw bad(url, 'has a path: a cluster has one database, give hosts only');
    return { topology: 'cluster', nodes: hostsOf(url, hostList!, 6379), ...auth };
  }
  const [name, db, ...more] = path!.replace(/^\//, '').split('/');
  if (name === undefined || name === '')
    throw bad(url, 'names no master: end it with /<the name the Sentinels monitor>');
  if (more.length > 0 || (db !== undefined && !/^\d{1,2}$/.test(db)))
    throw bad(url, 'has a path other than /<master name>[/<db number>]');
  const sentinelUsername = params.get('sentinel_username');
  const sentinelPassword = params.get('sentinel_password');
  return {
    topology: 'sentinel',
    sentinels: hostsOf(url, hostList!, 26379),
    name: decodeURIComponent(name),
    db: db === undefined ? 0 : Number(db),
    ...auth,
    ...(sentinelUsername ? { sentinelUsername } : {}),
    ...(sentinelPassword ? { sentinelPassword } : {}),
  };
}

/**
 * `redisTarget` for a factory's option: a malformed URL is the factory's InvalidOptionError
 * naming the option (a TlsError stays what it is: it names the parameter and the file).
 */
export function redisUrlOption(check: OptionChecks, option: string, url: string): RedisTarget {
  try {
    return redisTarget(url);
  } catch (error) {
    if (error instanceof RedisUrlError)
      throw check.invalid(option, `must be a valid Redis URL: ${error.message}`);
    throw error;
  }
}

const DISCONNECT_GRACE_MS = 300;

/** How long a connection may take from TCP connect to ready by default (see openRedis). */
export const REDIS_HANDSHAKE_TIMEOUT_MS = 5_000;

/** The client options every meskit component chooses for itself. */
export interface RedisClientSettings {
  connectionName: string;
  /** Commands sent while disconnected wait (true) or fail at once (false). */
  enableOfflineQueue: boolean;
  maxRetriesPerRequest: number;
  /**
   * A connection not ready this long after its TCP connect (a server that accepts and never
   * answers CLIENT SETNAME or the INFO ready check) is dropped and tried again. Default:
   * REDIS_HANDSHAKE_TIMEOUT_MS. Bound each command yourself (boundedRedis): an ioredis
   * `commandTimeout` also bounds the handshake, and one short enough for requests makes a
   * process whose event loop stalls a few hundred ms under load reconnect over and over.
   */
  handshakeTimeoutMs?: number;
}

type Connect = (...args: unknown[]) => Promise<unknown>;

/**
 * The connector's connect, wrapped:
 * - ioredis listens for one 'error' on each socket (`once`): a socket that emits another (a
 *   TLS server's alert after the client refused its certificate, a reset after a timeout)
 *   would throw it as an uncaught exception and take the process down. Every socket the client
 *   opens gets a listener that stays; ioredis still sees the first error, and reconnects on
 *   'close' as ever.
 * - A connect that fails ends an ioredis client for good (status 'end', no retry scheduled).
 *   Through Sentinel, the previous connection's failover detector disconnects the connector
 *   when the Sentinels announce the new master; when that lands while the client is already
 *   reconnecting (its master was killed) and asking the Sentinels where the master is, the
 *   lookup throws "Connection is closed." and the client would never connect again. Unless the
 *   application closed the client, the connect is tried again (a few times).
 */
function wrapConnect(client: Redis): void {
  const connector = (client as unknown as { connector?: { connect?: Connect } }).connector;
  const connect = connector?.connect;
  if (!connector || typeof connect !== 'function') return;
  connector.connect = async (...args: unknown[]): Promise<unknown> => {
    for (let attempt = 1; ; attempt++) {
      try {
        const stream = await connect.apply(connector, args);
        if (stream instanceof EventEmitter) stream.on('error', () => undefined);
        return stream;
      } catch (error) {
        if (attempt >= CONNECT_ATTEMPTS || !closedUnderConnect(client, error)) throw error;
      }
    }
  };
}

/** Tries of one connect cut short by its own connector (wrapConnect). */
const CONNECT_ATTEMPTS = 5;

function closedUnderConnect(client: Redis, error: unknown): boolean {
  const closedByApplication = (client as unknown as { manuallyClosing?: boolean }).manuallyClosing;
  return (
    closedByApplication !== true &&
    error instanceof Error &&
    error.message === CONNECTION_CLOSED_MESSAGE
  );
}

/** ioredis's CONNECTION_CLOSED_ERROR_MSG. */
const CONNECTION_CLOSED_MESSAGE = 'Connection is closed.';

/**
 * What every client gets: its connector wrapped (above), and its connection dropped (to
 * reconnect) when it is not ready `timeoutMs` after its TCP connect. For a Cluster, each node's
 * connection is its own Redis: `redisOptions` cannot carry listeners, so the Cluster's nodes
 * get it as they come.
 */
function harden(client: Redis, timeoutMs: number): void {
  wrapConnect(client);
  let timer: NodeJS.Timeout | undefined;
  const clear = (): void => {
    if (timer) clearTimeout(timer);
    timer = undefined;
  };
  client.on('connect', () => {
    clear();
    timer = setTimeout(() => {
      timer = undefined;
      if (client.status === 'connect') client.disconnect(true);
    }, timeoutMs);
    timer.unref();
  });
  client.on('ready', clear);
  client.on('close', clear);
  client.on('end', clear);
}

/**
 * The ioredis client for `target`: a `Redis` (single or through Sentinel, which reconnects to
 * whichever node the Sentinels name master and drops the connection as soon as they announce
 * a switch) or a `Cluster`.
 */
export function openRedis(target: RedisTarget, settings: RedisClientSettings): Redis | Cluster {
  const common = {
    connectionName: settings.connectionName,
    // How long disconnect() lets a socket drain before destroying it. ioredis arms that timer
    // even for a socket that already closed (Redis down), where it only holds the process
    // open: its 2 s default outlasts a sidecar's stop.
    disconnectTimeout: DISCONNECT_GRACE_MS,
    // A connection to a node that became a replica (a failover it did not see: DNS that
    // moved, a master demoted while this client was connected) answers writes with
    // READONLY: reconnect, to wherever the URL leads now.
    reconnectOnError: (error: Error) => error.message.startsWith('READONLY'),
    maxRetriesPerRequest: settings.maxRetriesPerRequest,
    // Connected below, once harden() has wrapped the connector: its first socket too.
    lazyConnect: true,
  };
  const handshakeMs = settings.handshakeTimeoutMs ?? REDIS_HANDSHAKE_TIMEOUT_MS;
  if (target.topology === 'standalone') {
    const { tls } = target;
    const client = new Redis(tls.url, {
      ...common,
      enableOfflineQueue: settings.enableOfflineQueue,
      ...(tls.options ? { tls: tls.options } : {}),
    });
    harden(client, handshakeMs);
    client.connect().catch(() => undefined); // failures: 'error' events, and reconnects
    return client;
  }
  const auth = {
    ...(target.username !== undefined ? { username: target.username } : {}),
    ...(target.password !== undefined ? { password: target.password } : {}),
  };
  if (target.topology === 'sentinel') {
    const client = new Redis({
      ...common,
      ...auth,
      enableOfflineQueue: settings.enableOfflineQueue,
      sentinels: target.sentinels,
      name: target.name,
      db: target.db,
      ...(target.sentinelUsername !== undefined
        ? { sentinelUsername: target.sentinelUsername }
        : {}),
      ...(target.sentinelPassword !== undefined
        ? { sentinelPassword: target.sentinelPassword }
        : {}),
      // Reconnect as soon as the Sentinels announce a new master, not when the old one
      // stops answering (it may still accept writes on the wrong side of a partition).
      failoverDetector: true,
    });
    harden(client, handshakeMs);
    client.connect().catch(() => undefined); // failures: 'error' events, and reconnects
    return client;
  }
  const nodes: ClusterNode[] = target.nodes.map(({ host, port }) => ({ host, port }));
  // The Cluster connects its nodes lazily itself, after '+node'.
  const { lazyConnect: _lazy, ...nodeOptions } = common;
  const cluster = new Cluster(nodes, {
    enableOfflineQueue: settings.enableOfflineQueue,
    redisOptions: { ...nodeOptions, ...auth },
  });
  cluster.on('+node', (node: Redis) => harden(node, handshakeMs));
  return cluster;
}

/**
 * True when writes on `client` can be acknowledged by replicas (Redis WAIT): a Cluster, or a
 * client that reaches its master through Sentinel. A single Redis may have replicas too, but
 * nothing promotes them on its own.
 */
export function replicatedRedis(client: Redis | Cluster): boolean {
  // `isCluster`, not instanceof: the caller's client may come from another copy of ioredis.
  if ((client as { isCluster?: boolean }).isCluster === true) return true;
  const sentinels = (client.options as { sentinels?: unknown } | undefined)?.sentinels;
  return Array.isArray(sentinels) && sentinels.length > 0;
}

/** Where a target is, without credentials: `host:port`, or the Sentinels or Cluster seeds. */
export function describeRedisTarget(target: RedisTarget): string {
  if (target.topology === 'standalone') {
    const url = new URL(target.tls.url);
    return `${url.hostname}:${url.port || 6379}`;
  }
  const hosts = (target.topology === 'sentinel' ? target.sentinels : target.nodes)
    .map((h) => `${h.host}:${h.port}`)
    .join(',');
  return target.topology === 'sentinel'
    ? `Sentinel ${hosts}, master ${target.name}`
    : `Cluster ${hosts}`;
}
