// A Redis Cluster on loopback: three masters sharing the 16384 slots, one replica each, formed
// with CLUSTER ADDSLOTSRANGE / MEET / REPLICATE (what `redis-cli --cluster create` sends). A
// test SIGKILLs a master and waits for its replica to take its slots over.
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, onProcessEnd, signalGroup, waitUntil } from './internal/proc.js';
import { RedisServer } from './redis.js';
import { infoFields } from './redis-sentinel.js';

const SLOTS = 16_384;

export interface RedisClusterOptions {
  dir: string;
  /** Masters (default 3), each with one replica. */
  masters?: number;
  /** cluster-node-timeout: how long before a master that does not answer fails over. Default 1000. */
  nodeTimeoutMs?: number;
}

/**
 * The slot Redis Cluster puts `key` in: CRC16 (XMODEM) of its hash tag (the text between the
 * first `{` and the next `}`, when not empty) or of the whole key, modulo 16384.
 */
export function slotOf(key: string): number {
  const open = key.indexOf('{');
  const close = open < 0 ? -1 : key.indexOf('}', open + 1);
  const hashed = close > open + 1 ? key.slice(open + 1, close) : key;
  let crc = 0;
  for (const byte of Buffer.from(hashed)) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++)
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % SLOTS;
}

/** One line of CLUSTER NODES. */
export interface ClusterNodeView {
  id: string;
  port: number;
  role: 'master' | 'replica';
  /** The master's id, for a replica. */
  masterId: string | undefined;
  failed: boolean;
  myself: boolean;
  /** Slot ranges `[from, to]` a master serves. */
  slots: Array<[number, number]>;
}

export function parseClusterNodes(text: string): ClusterNodeView[] {
  return text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [id, address, flags, master, , , , , ...slots] = line.split(' ');
      const flagList = (flags ?? '').split(',');
      return {
        id: id!,
        port: Number(/:(\d+)@/.exec(address ?? '')?.[1]),
        role: flagList.includes('master') ? 'master' : 'replica',
        masterId: master === '-' ? undefined : master,
        failed: flagList.includes('fail') || flagList.includes('fail?'),
        myself: flagList.includes('myself'),
        slots: slots
          .filter((range) => !range.startsWith('['))
          .map((range) => {
            const [from, to] = range.split('-').map(Number);
            return [from!, to ?? from!] as [number, number];
          }),
      };
    });
}

/** One connection that sends commands to a node; closed with `disconnect()`. */
function connectTo(port: number): Redis {
  const client = new Redis({
    host: '127.0.0.1',
    port,
    enableOfflineQueue: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 1_000,
  });
  client.on('error', () => undefined);
  return client;
}

async function ask(port: number, ...args: string[]): Promise<string | null> {
  const client = connectTo(port);
  try {
    return String(await client.call(args[0]!, ...args.slice(1)));
  } catch {
    return null;
  } finally {
    client.disconnect();
  }
}

export class RedisCluster {
  /** Every node; the first `masters` were started as masters. */
  readonly nodes: readonly RedisServer[];
  readonly #unhook: () => void;
  #closed: Promise<void> | undefined;

  constructor(nodes: readonly RedisServer[]) {
    this.nodes = nodes;
    this.#unhook = onProcessEnd(() => {
      for (const node of nodes) {
        const pid = node.pid;
        if (pid !== undefined) signalGroup(pid, 'SIGKILL');
      }
    });
  }

  /** `redis+cluster://` with every node as a seed, as meskit reads it. */
  get url(): string {
    return `redis+cluster://${this.nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`;
  }

  /** The cluster as a running node sees it. */
  async view(): Promise<ClusterNodeView[]> {
    for (const node of this.nodes) {
      if (!node.isRunning()) continue;
      const text = await ask(node.port, 'CLUSTER', 'NODES');
      if (text !== null) return parseClusterNodes(text);
    }
    return [];
  }

  /** The node that serves `slot` now. */
  async masterOfSlot(slot: number): Promise<RedisServer> {
    const view = await this.view();
    const owner = view.find(
      (n) => n.role === 'master' && !n.failed && n.slots.some(([a, b]) => slot >= a && slot <= b),
    );
    const server = this.nodes.find((n) => n.port === owner?.port);
    if (!server) throw new Error(`no master serves slot ${slot}`);
    return server;
  }

  /** The node that serves `key` now. */
  masterOfKey(key: string): Promise<RedisServer> {
    return this.masterOfSlot(slotOf(key));
  }

  /**
   * Waits until every running node says `cluster_state:ok`, every slot is served and each
   * running master has a running replica in sync (unless `replicas: false`).
   */
  async waitForHealthy(opts: { timeoutMs?: number; replicas?: boolean } = {}): Promise<void> {
    let seen = 'nothing yet';
    await waitUntil(
      'Redis Cluster',
      async () => {
        const running = this.nodes.filter((n) => n.isRunning());
        const states = await Promise.all(
          running.map(async (n) => infoFields(await ask(n.port, 'CLUSTER', 'INFO'))),
        );
        const view = await this.view();
        const live = view.filter((n) => !n.failed && running.some((r) => r.port === n.port));
        const masters = live.filter((n) => n.role === 'master' && n.slots.length > 0);
        const covered = masters.reduce(
          (sum, m) => sum + m.slots.reduce((s, [a, b]) => s + b - a + 1, 0),
          0,
        );
        const withReplica = masters.filter((m) =>
          live.some((n) => n.role === 'replica' && n.masterId === m.id),
        ).length;
        seen = `${states.map((s) => s.get('cluster_state')).join(',')}; ${masters.length} masters covering ${covered} slots, ${withReplica} with a replica`;
        if (!states.every((s) => s.get('cluster_state') === 'ok') || covered !== SLOTS)
          return false;
        if (opts.replicas === false) return true;
        if (withReplica !== masters.length) return false;
        // In sync: each replica's link to its master is up.
        const links = await Promise.all(
          live
            .filter((n) => n.role === 'replica')
            .map(async (n) => infoFields(await ask(n.port, 'INFO', 'replication'))),
        );
        return links.every((info) => info.get('master_link_status') === 'up');
      },
      { timeoutMs: opts.timeoutMs ?? 30_000, intervalMs: 200, hint: () => `last seen: ${seen}` },
    );
  }

  /**
   * SIGKILLs the master serving `slot` and waits until its replica has taken the slots over
   * and the cluster is ok again. Returns the killed node and the promoted one.
   */
  async killMasterOf(
    slot: number,
    timeoutMs = 30_000,
  ): Promise<{ killed: RedisServer; promoted: RedisServer }> {
    const killed = await this.masterOfSlot(slot);
    await killed.kill();
    let promoted: RedisServer | undefined;
    await waitUntil(
      `a replica serving slot ${slot} after node ${killed.port} was killed`,
      async () => {
        const now = await this.masterOfSlot(slot).catch(() => undefined);
        if (!now || now === killed) return false;
        promoted = now;
        return true;
      },
      { timeoutMs, intervalMs: 100 },
    );
    await this.waitForHealthy({ timeoutMs, replicas: false });
    return { killed, promoted: promoted! };
  }

  /**
   * A manual failover (CLUSTER FAILOVER on a replica of the master serving `slot`): the
   * replica takes the slots over in step with its master, which stays up as its replica and
   * answers MOVED. Waits until the cluster is ok again with every master replicated.
   */
  async failoverOf(
    slot: number,
    timeoutMs = 30_000,
  ): Promise<{ demoted: RedisServer; promoted: RedisServer }> {
    const demoted = await this.masterOfSlot(slot);
    const view = await this.view();
    const masterId = view.find((n) => n.port === demoted.port)?.id;
    const replica = view.find((n) => n.role === 'replica' && !n.failed && n.masterId === masterId);
    const promoted = this.nodes.find((n) => n.port === replica?.port);
    if (!promoted) throw new Error(`the master of slot ${slot} has no replica to fail over to`);
    const answer = await ask(promoted.port, 'CLUSTER', 'FAILOVER');
    if (answer !== 'OK') throw new Error(`CLUSTER FAILOVER on ${promoted.port} answered ${answer}`);
    await waitUntil(
      `node ${promoted.port} serving slot ${slot} after CLUSTER FAILOVER`,
      async () => (await this.masterOfSlot(slot).catch(() => undefined)) === promoted,
      { timeoutMs, intervalMs: 100 },
    );
    await this.waitForHealthy({ timeoutMs });
    return { demoted, promoted };
  }

  /** Stops every node. Safe to call twice. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#unhook();
      await Promise.all(this.nodes.map((n) => n.stop()));
    })();
    return this.#closed;
  }
}

/**
 * Starts `masters` masters (default 3) and as many replicas on free loopback ports, splits
 * the slots evenly between the masters, and waits until the cluster is ok.
 */
export async function startRedisCluster(opts: RedisClusterOptions): Promise<RedisCluster> {
  const masters = opts.masters ?? 3;
  const nodes: RedisServer[] = [];
  for (let i = 0; i < masters * 2; i++) {
    nodes.push(
      new RedisServer(await freePort(), join(opts.dir, `node-${i}`), undefined, undefined, {
        extra: [
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          'nodes.conf',
          '--cluster-node-timeout',
          String(opts.nodeTimeoutMs ?? 1_000),
          // Loopback ports only: a node announces the address clients reach it at.
          '--cluster-announce-ip',
          '127.0.0.1',
        ],
      }),
    );
  }
  const cluster = new RedisCluster(nodes);
  const clients: Redis[] = [];
  try {
    await Promise.all(nodes.map((n) => n.start()));
    for (const n of nodes) clients.push(connectTo(n.port));
    const ids = await Promise.all(clients.map((c) => c.call('CLUSTER', 'MYID')));
    const size = Math.floor(SLOTS / masters);
    for (let i = 0; i < masters; i++) {
      const from = i * size;
      const to = i === masters - 1 ? SLOTS - 1 : from + size - 1;
      await clients[i]!.call('CLUSTER', 'ADDSLOTSRANGE', String(from), String(to));
    }
    for (const n of nodes.slice(1))
      await clients[0]!.call('CLUSTER', 'MEET', '127.0.0.1', String(n.port));
    // A replica can follow its master once it knows the master's id.
    await waitUntil('every node knows every other', async () => {
      const views = await Promise.all(
        clients.map(async (c) => parseClusterNodes(String(await c.call('CLUSTER', 'NODES')))),
      );
      return views.every((v) => v.length === nodes.length);
    });
    for (let i = 0; i < masters; i++)
      await clients[masters + i]!.call('CLUSTER', 'REPLICATE', String(ids[i]));
    await cluster.waitForHealthy();
  } catch (error) {
    await cluster.close().catch(() => undefined);
    throw error;
  } finally {
    for (const c of clients) c.disconnect();
  }
  return cluster;
}
