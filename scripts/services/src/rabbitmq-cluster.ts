import { randomBytes } from 'node:crypto';
import { chownSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { ServicesError } from './errors.js';
import {
  freePort,
  isAlive,
  onProcessEnd,
  signalGroup,
  spawnServer,
  stopGroup,
  systemUser,
  waitUntil,
} from './internal/proc.js';
import { RabbitMqServer, rabbitNodeName } from './rabbitmq.js';

/** What `rabbitmqctl cluster_status --formatter json` prints, as far as we read it. */
interface ClusterStatus {
  running_nodes?: string[];
}

/**
 * A RabbitMQ cluster on loopback: one epmd that every node registers with (Erlang nodes on
 * one host find each other through the epmd on ERL_EPMD_PORT, so they must share it), one
 * Erlang cookie, and nodes that find each other with `classic_config` peer discovery. Each
 * node is a `RabbitMqServer`: a test can `kill()` one and `start()` it again, and it rejoins
 * under the same node name from the same data folder.
 */
export class RabbitMqCluster {
  readonly nodes: readonly RabbitMqServer[];
  readonly epmdPort: number;
  readonly #dir: string;
  #epmdPid: number | undefined;
  #closed: Promise<void> | undefined;
  readonly #unhook: () => void;

  constructor(nodes: readonly RabbitMqServer[], epmdPort: number, dir: string) {
    this.nodes = nodes;
    this.epmdPort = epmdPort;
    this.#dir = dir;
    // Brokers die with the process that started them, even when it skips `close()`.
    this.#unhook = onProcessEnd(() => this.killNow());
  }

  /** One AMQP URL per node, in node order. */
  get urls(): string[] {
    return this.nodes.map((node) => node.url);
  }

  get nodeNames(): string[] {
    return this.nodes.map((node) => node.nodeName);
  }

  get epmdPid(): number | undefined {
    return this.#epmdPid !== undefined && isAlive(this.#epmdPid) ? this.#epmdPid : undefined;
  }

  /** Starts the shared epmd, unless it runs already. */
  startEpmd(): void {
    if (this.epmdPid !== undefined) return;
    mkdirSync(this.#dir, { recursive: true, mode: 0o755 });
    const runAs = systemUser('rabbitmq');
    if (runAs) chownSync(this.#dir, runAs.uid, runAs.gid);
    const log = openSync(join(this.#dir, 'epmd.log'), 'a');
    try {
      this.#epmdPid = spawnServer(
        'epmd',
        ['-address', '127.0.0.1', '-port', String(this.epmdPort)],
        {
          runAs,
          env: {
            PATH: process.env['PATH'] ?? '/usr/bin:/bin',
            ERL_EPMD_ADDRESS: '127.0.0.1',
            ERL_EPMD_PORT: String(this.epmdPort),
          },
          logFile: log,
        },
      );
    } finally {
      closeSync(log);
    }
  }

  /**
   * The nodes the cluster runs, as `via` (default: the first node that runs) sees them.
   * @throws ServicesError COMMAND_FAILED when rabbitmqctl cannot reach that node.
   */
  async runningNodes(via?: RabbitMqServer): Promise<string[]> {
    const node = via ?? this.nodes.find((candidate) => candidate.isRunning());
    if (!node) return [];
    const out = await node.ctl(['cluster_status', '--formatter', 'json']);
    const status = JSON.parse(out) as ClusterStatus;
    return [...(status.running_nodes ?? [])].sort();
  }

  /**
   * Waits until every node in `expected` (default: all of them) runs, and each of them sees
   * exactly those nodes running: one cluster, not several that formed side by side.
   * @throws ServicesError NOT_READY with the status last seen and the nodes' log tails.
   */
  async waitForRunningNodes(
    expected: readonly RabbitMqServer[] = this.nodes,
    options: { timeoutMs?: number } = {},
  ): Promise<void> {
    const want = expected.map((node) => node.nodeName).sort();
    let seen = 'nothing yet';
    await waitUntil(
      `RabbitMQ cluster with running nodes ${want.join(', ')}`,
      async () => {
        const views = await Promise.all(
          expected.map((node) =>
            this.runningNodes(node).then(
              (running) => ({ node, running, error: undefined }),
              (error: unknown) => ({ node, running: [] as string[], error }),
            ),
          ),
        );
        seen = views
          .map(({ node, running, error }) =>
            error === undefined
              ? `${node.nodeName} sees [${running.join(', ')}]`
              : `${node.nodeName} does not answer (${firstLine(error)})`,
          )
          .join('; ');
        return views.every(({ running }) => running.join(',') === want.join(','));
      },
      {
        timeoutMs: options.timeoutMs ?? 60_000,
        intervalMs: 250,
        hint: () => `last seen: ${seen}\n${this.logTail()}`,
      },
    );
  }

  /** The last log lines of every node, labelled. */
  logTail(lines = 15): string {
    return this.nodes.map((node) => `--- ${node.nodeName} ---\n${node.logTail(lines)}`).join('\n');
  }

  /** Stops every node (gracefully, in parallel) and then the shared epmd. Safe to call twice. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#unhook();
      const results = await Promise.allSettled(this.nodes.map((node) => node.stop()));
      await stopGroup(this.epmdPid);
      const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed.length > 0) {
        throw new ServicesError(
          'STOP_FAILED',
          `some RabbitMQ nodes did not stop: ${failed.map((r) => String(r.reason)).join('; ')}`,
        );
      }
    })();
    return this.#closed;
  }

  /** Synchronous last resort on process exit: SIGKILL to every node and the epmd. */
  killNow(): void {
    for (const pid of [...this.nodes.map((node) => node.pid), this.epmdPid]) {
      if (pid !== undefined) signalGroup(pid, 'SIGKILL');
    }
  }
}

/** The gist of a failed command: its first line that says something. */
function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const lines = text.split('\n').map((line) => line.trim());
  return lines.find((line) => line.startsWith('Error:')) ?? lines[0] ?? '';
}

/** A cookie as Erlang makes them: upper-case letters. */
function makeCookie(): string {
  return [...randomBytes(20)].map((byte) => String.fromCharCode(65 + (byte % 26))).join('');
}

/**
 * Starts a RabbitMQ cluster of `nodes` nodes (default 3) on loopback, under
 * `<dir>/rabbitmq-cluster/node<N>`, and waits until every node sees all of them running.
 * Every listener (AMQP, Erlang distribution, the shared epmd) is bound to 127.0.0.1. When we
 * are root the nodes run as the `rabbitmq` user, who must be able to enter `dir`. `track`
 * sees the handle before it is ready, so a caller can stop it even if start-up fails.
 * On failure it stops what it started before rethrowing.
 */
export async function startRabbitCluster(opts: {
  dir: string;
  nodes?: number;
  track?: (cluster: RabbitMqCluster) => void;
}): Promise<RabbitMqCluster> {
  const count = opts.nodes ?? 3;
  if (!Number.isInteger(count) || count < 1) {
    throw new ServicesError('BAD_OPTIONS', `nodes must be a positive integer, got ${count}`);
  }
  const epmd = await freePort();
  const ports: { amqp: number; dist: number; epmd: number }[] = [];
  for (let i = 0; i < count; i++)
    ports.push({ amqp: await freePort(), dist: await freePort(), epmd });
  const names = ports.map((p) => rabbitNodeName(p.amqp));
  const cookie = makeCookie();
  const base = join(opts.dir, 'rabbitmq-cluster');
  const nodes = ports.map(
    (p, i) =>
      new RabbitMqServer(
        p,
        join(base, `node${i + 1}`),
        {},
        {
          ownEpmd: false,
          cookie,
          clusterNodes: names,
        },
      ),
  );
  const cluster = new RabbitMqCluster(nodes, epmd, base);
  opts.track?.(cluster);
  try {
    cluster.startEpmd();
    const [seed, ...rest] = nodes;
    await seed!.start();
    const results = await Promise.allSettled(rest.map((node) => node.start()));
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) throw failure.reason;
    await cluster.waitForRunningNodes();
  } catch (error) {
    await cluster.close().catch(() => {});
    throw error;
  }
  return cluster;
}
