// Redis with Sentinel on loopback, as the cloud sells "Redis with automatic failover": a master,
// a replica and three Sentinels watching them with a quorum of two. Sentinel is redis-server
// started with `--sentinel` (what Debian's redis-sentinel package runs), so nothing more is
// installed. A test SIGKILLs the master and waits for the Sentinels to promote the replica.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, onProcessEnd, signalGroup, waitUntil } from './internal/proc.js';
import { RedisServer } from './redis.js';

/** The name the Sentinels monitor the master under (the URL's path). */
export const SENTINEL_MASTER_NAME = 'meskit';

export interface RedisSentinelOptions {
  dir: string;
  /** How long the master must be unreachable before a Sentinel calls it down. Default 1000. */
  downAfterMs?: number;
  /** Sentinel's failover-timeout. Default 5000. */
  failoverTimeoutMs?: number;
}

export interface RedisAddress {
  host: string;
  port: number;
}

/** Asks one server a command and closes the connection (null when it does not answer). */
async function ask<T>(port: number, command: string, ...args: string[]): Promise<T | null> {
  const client = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 1_000,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.call(command, ...args)) as T;
  } catch {
    return null;
  } finally {
    client.disconnect();
  }
}

/** A flat [key, value, key, value...] reply as a map. */
function fields(reply: unknown): Map<string, string> {
  const out = new Map<string, string>();
  if (!Array.isArray(reply)) return out;
  for (let i = 0; i + 1 < reply.length; i += 2) out.set(String(reply[i]), String(reply[i + 1]));
  return out;
}

/** The `key:value` lines of an INFO section. */
export function infoFields(text: string | null): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of (text ?? '').split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) out.set(line.slice(0, colon), line.slice(colon + 1));
  }
  return out;
}

export class RedisSentinelGroup {
  /** The data nodes, the first started as the master. */
  readonly servers: readonly RedisServer[];
  readonly sentinels: readonly RedisServer[];
  readonly name = SENTINEL_MASTER_NAME;
  readonly #unhook: () => void;
  #closed: Promise<void> | undefined;

  constructor(servers: readonly RedisServer[], sentinels: readonly RedisServer[]) {
    this.servers = servers;
    this.sentinels = sentinels;
    // The servers die with the process that started them, even when it skips `close()`.
    this.#unhook = onProcessEnd(() => {
      for (const server of [...servers, ...sentinels]) {
        const pid = server.pid;
        if (pid !== undefined) signalGroup(pid, 'SIGKILL');
      }
    });
  }

  /** `redis+sentinel://` with every Sentinel and the master's name, as meskit reads it. */
  get url(): string {
    const hosts = this.sentinels.map((s) => `127.0.0.1:${s.port}`).join(',');
    return `redis+sentinel://${hosts}/${this.name}`;
  }

  /** Where the Sentinels (a majority of those that answer) say the master is now. */
  async master(): Promise<RedisAddress | undefined> {
    const votes = new Map<string, number>();
    for (const sentinel of this.sentinels) {
      if (!sentinel.isRunning()) continue;
      const reply = await ask<string[]>(
        sentinel.port,
        'SENTINEL',
        'get-master-addr-by-name',
        this.name,
      );
      if (reply?.length === 2) {
        const key = `${reply[0]}:${reply[1]}`;
        votes.set(key, (votes.get(key) ?? 0) + 1);
      }
    }
    const [best] = [...votes.entries()].sort((a, b) => b[1] - a[1]);
    if (!best || best[1] < 2) return undefined;
    const [host, port] = best[0].split(':');
    return { host: host!, port: Number(port) };
  }

  /** The data node that is the master now. */
  async masterServer(): Promise<RedisServer> {
    const address = await this.master();
    const server = this.servers.find((s) => s.port === address?.port);
    if (!server) throw new Error(`no Sentinel majority names a master of ${this.name}`);
    return server;
  }

  /**
   * Waits until every running Sentinel sees the master, its replicas and the other Sentinels,
   * and the master sees its replicas in sync: a failover can then happen.
   */
  async waitForHealthy(timeoutMs = 30_000): Promise<void> {
    let seen = 'nothing yet';
    await waitUntil(
      `Redis Sentinel group ${this.name}`,
      async () => {
        const master = await this.masterServer().catch(() => undefined);
        if (!master?.isRunning()) return false;
        const replicas = this.servers.filter((s) => s !== master && s.isRunning()).length;
        const info = infoFields(await ask<string>(master.port, 'INFO', 'replication'));
        const online = [...info.entries()].filter(
          ([key, value]) => /^slave\d+$/.test(key) && value.includes('state=online'),
        ).length;
        const running = this.sentinels.filter((s) => s.isRunning());
        const views = await Promise.all(
          running.map(async (s) =>
            fields(await ask<string[]>(s.port, 'SENTINEL', 'master', this.name)),
          ),
        );
        seen = `master ${master.port} with ${online}/${replicas} replicas online; sentinels see ${views
          .map(
            (v) =>
              `${v.get('flags')} slaves=${v.get('num-slaves')} others=${v.get('num-other-sentinels')}`,
          )
          .join('; ')}`;
        return (
          online === replicas &&
          views.every(
            (v) =>
              v.get('flags') === 'master' &&
              Number(v.get('num-slaves')) >= replicas &&
              Number(v.get('num-other-sentinels')) === running.length - 1,
          )
        );
      },
      { timeoutMs, intervalMs: 200, hint: () => `last seen: ${seen}` },
    );
  }

  /** Waits until every running replica has everything the master had written so far. */
  async waitForReplicated(timeoutMs = 10_000): Promise<void> {
    const master = await this.masterServer();
    const client = new Redis({ host: '127.0.0.1', port: master.port, maxRetriesPerRequest: 0 });
    client.on('error', () => undefined);
    try {
      const replicas = this.servers.filter((s) => s !== master && s.isRunning()).length;
      // WAIT counts the replicas that have this connection's last write, and so all before it.
      await client.set('meskit:services:replicated', String(Date.now()));
      const acked = Number(await client.call('WAIT', String(replicas), String(timeoutMs)));
      if (acked < replicas)
        throw new Error(`${acked} of ${replicas} replicas caught up within ${timeoutMs} ms`);
    } finally {
      client.disconnect();
    }
  }

  /**
   * SIGKILLs the master and waits until the Sentinels have promoted another node and it
   * answers as a master. Returns the killed server and the new master.
   */
  async killMaster(timeoutMs = 30_000): Promise<{ killed: RedisServer; promoted: RedisServer }> {
    const killed = await this.masterServer();
    await killed.kill();
    let promoted: RedisServer | undefined;
    await waitUntil(
      `a replica promoted after master ${killed.port} was killed`,
      async () => {
        const now = await this.master();
        if (now === undefined || now.port === killed.port) return false;
        promoted = this.servers.find((s) => s.port === now.port);
        const role = infoFields(await ask<string>(now.port, 'INFO', 'replication')).get('role');
        return promoted !== undefined && role === 'master';
      },
      { timeoutMs, intervalMs: 100 },
    );
    return { killed, promoted: promoted! };
  }

  /** Stops every server and Sentinel. Safe to call twice. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#unhook();
      await Promise.all([...this.sentinels, ...this.servers].map((s) => s.stop()));
    })();
    return this.#closed;
  }
}

/**
 * Starts a master, `replicas` replicas (default 1) and three Sentinels on free loopback ports,
 * and waits until the Sentinels see each other and the replicas are in sync.
 */
export async function startRedisSentinel(
  opts: RedisSentinelOptions & { replicas?: number },
): Promise<RedisSentinelGroup> {
  const downAfter = opts.downAfterMs ?? 1_000;
  const failoverTimeout = opts.failoverTimeoutMs ?? 5_000;
  const masterPort = await freePort();
  const servers: RedisServer[] = [new RedisServer(masterPort, join(opts.dir, 'redis-0'))];
  for (let i = 1; i <= (opts.replicas ?? 1); i++) {
    servers.push(
      new RedisServer(await freePort(), join(opts.dir, `redis-${i}`), undefined, undefined, {
        extra: ['--replicaof', '127.0.0.1', String(masterPort)],
      }),
    );
  }
  const sentinels: RedisServer[] = [];
  for (let i = 0; i < 3; i++) {
    const dir = join(opts.dir, `sentinel-${i}`);
    mkdirSync(dir, { recursive: true });
    // Sentinel rewrites its config file as it learns the group: a file of its own.
    const config = join(dir, 'sentinel.conf');
    writeFileSync(
      config,
      [
        `sentinel monitor ${SENTINEL_MASTER_NAME} 127.0.0.1 ${masterPort} 2`,
        `sentinel down-after-milliseconds ${SENTINEL_MASTER_NAME} ${downAfter}`,
        `sentinel failover-timeout ${SENTINEL_MASTER_NAME} ${failoverTimeout}`,
        `sentinel parallel-syncs ${SENTINEL_MASTER_NAME} 1`,
        '',
      ].join('\n'),
    );
    sentinels.push(
      new RedisServer(await freePort(), dir, undefined, undefined, {
        leading: [config, '--sentinel'],
        persistenceOff: false,
      }),
    );
  }
  const group = new RedisSentinelGroup(servers, sentinels);
  try {
    for (const server of servers) await server.start();
    await Promise.all(sentinels.map((s) => s.start()));
    await group.waitForHealthy();
  } catch (error) {
    await group.close().catch(() => undefined);
    throw error;
  }
  return group;
}
