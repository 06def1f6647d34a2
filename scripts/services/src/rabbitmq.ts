import {
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import amqp from 'amqplib';
import { locate } from './internal/install.js';
import {
  freePort,
  isAlive,
  runAsync,
  signalGroup,
  spawnServer,
  systemUser,
  waitForExit,
  waitUntil,
  type RunAs,
  stopGroup,
} from './internal/proc.js';
import { fileParam, privateKeyCopy, type TlsFiles } from './tls.js';

/**
 * Opens and closes an AMQP connection: true when the broker serves clients. With `caFile`,
 * an `amqps://` URL's chain is verified against that CA (not the host name).
 */
export async function amqpReachable(url: string, caFile?: string): Promise<boolean> {
  try {
    const connection = await amqp.connect(url, {
      timeout: 2_000,
      ...(caFile === undefined
        ? {}
        : { ca: readFileSync(caFile, 'utf8'), checkServerIdentity: () => undefined }),
    });
    connection.on('error', () => {});
    await connection.close();
    return true;
  } catch {
    return false;
  }
}

export interface RabbitPorts {
  amqp: number;
  dist: number;
  epmd: number;
  /** The AMQPS (TLS) listener, when the node has certificates (`RabbitNodeOptions.tls`). */
  amqps?: number;
}

/**
 * How a node takes part in a cluster, and its TLS listener; a plain standalone node needs none
 * of it.
 */
export interface RabbitNodeOptions {
  /** Certificates of the AMQPS listener on `ports.amqps`. Default: none, no TLS. */
  tls?: TlsFiles;
  /** Start (and stop) an epmd of its own on `ports.epmd`. Default: true. */
  ownEpmd?: boolean;
  /** The Erlang cookie, written to `$HOME/.erlang.cookie`. Default: one Erlang makes up. */
  cookie?: string;
  /** Every node of the cluster, this one included, for `classic_config` peer discovery. */
  clusterNodes?: readonly string[];
}

/** The node name a node listening for AMQP on `amqpPort` gets. */
export function rabbitNodeName(amqpPort: number): string {
  return `meskit${amqpPort}@localhost`;
}

/**
 * A RabbitMQ node on loopback with its own epmd, data and logs. RabbitMQ and epmd listen on
 * every interface unless told otherwise, so both are pinned to 127.0.0.1.
 */
export class RabbitMqServer {
  readonly ports: RabbitPorts;
  readonly url: string;
  /**
   * `amqps://` on the TLS listener, with the run's CA as `cacertfile` (read by the kernel's
   * `amqpTls`); undefined without TLS.
   */
  readonly tlsUrl: string | undefined;
  readonly nodeName: string;
  readonly #dir: string;
  readonly #runAs: RunAs | undefined;
  readonly #options: RabbitNodeOptions;
  #pid: number | undefined;
  #epmdPid: number | undefined;

  constructor(
    ports: RabbitPorts,
    dir: string,
    pids: { pid?: number; epmdPid?: number } = {},
    options: RabbitNodeOptions = {},
  ) {
    this.ports = ports;
    this.url = `amqp://guest:guest@127.0.0.1:${ports.amqp}`;
    this.tlsUrl =
      options.tls && ports.amqps !== undefined
        ? `amqps://guest:guest@127.0.0.1:${ports.amqps}?${fileParam('cacertfile', options.tls.caFile)}`
        : undefined;
    this.nodeName = rabbitNodeName(ports.amqp);
    this.#dir = dir;
    this.#runAs = systemUser('rabbitmq');
    this.#options = options;
    this.#pid = pids.pid;
    this.#epmdPid = pids.epmdPid;
  }

  /** The data folder of this node. */
  get dir(): string {
    return this.#dir;
  }

  get pid(): number | undefined {
    return this.#pid !== undefined && isAlive(this.#pid) ? this.#pid : undefined;
  }

  get epmdPid(): number | undefined {
    return this.#epmdPid !== undefined && isAlive(this.#epmdPid) ? this.#epmdPid : undefined;
  }

  isRunning(): boolean {
    return this.pid !== undefined;
  }

  #env(): NodeJS.ProcessEnv {
    const home = join(this.#dir, 'home');
    return {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOME: home,
      LANG: 'C.UTF-8',
      ERL_EPMD_ADDRESS: '127.0.0.1',
      ERL_EPMD_PORT: String(this.ports.epmd),
      RABBITMQ_NODENAME: this.nodeName,
      RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
      RABBITMQ_NODE_PORT: String(this.ports.amqp),
      RABBITMQ_DIST_PORT: String(this.ports.dist),
      // Erlang distribution otherwise listens on every interface.
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: [
        '-kernel inet_dist_use_interface {127,0,0,1}',
        `-kernel inet_dist_listen_min ${this.ports.dist}`,
        `-kernel inet_dist_listen_max ${this.ports.dist}`,
      ].join(' '),
      // The same for the short-lived Erlang node that rabbitmqctl starts.
      RABBITMQ_CTL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
      RABBITMQ_CONF_ENV_FILE: join(this.#dir, 'rabbitmq-env.conf'),
      RABBITMQ_CONFIG_FILE: join(this.#dir, 'rabbitmq.conf'),
      RABBITMQ_ADVANCED_CONFIG_FILE: join(this.#dir, 'advanced.config'),
      RABBITMQ_ENABLED_PLUGINS_FILE: join(this.#dir, 'enabled_plugins'),
      RABBITMQ_MNESIA_BASE: join(this.#dir, 'mnesia'),
      RABBITMQ_LOG_BASE: join(this.#dir, 'log'),
      RABBITMQ_PID_FILE: join(this.#dir, 'rabbitmq.pid'),
    };
  }

  /** Starts the node; `onSpawn` runs as soon as its processes exist (to record their pids). */
  async start(onSpawn?: () => void): Promise<void> {
    if (this.isRunning()) return;
    const server = locate('rabbitmq');
    for (const sub of ['', 'home', 'mnesia', 'log'])
      mkdirSync(join(this.#dir, sub), { recursive: true, mode: 0o755 });
    writeFileSync(join(this.#dir, 'rabbitmq-env.conf'), '');
    writeFileSync(join(this.#dir, 'enabled_plugins'), '[].\n');
    writeFileSync(join(this.#dir, 'advanced.config'), '[].\n');
    const peers = this.#options.clusterNodes ?? [];
    const tls = this.#tlsListener();
    writeFileSync(
      join(this.#dir, 'rabbitmq.conf'),
      [
        `listeners.tcp.1 = 127.0.0.1:${this.ports.amqp}`,
        ...(tls
          ? [
              `listeners.ssl.default = 127.0.0.1:${tls.port}`,
              `ssl_options.cacertfile = ${tls.files.caFile}`,
              `ssl_options.certfile = ${tls.files.certFile}`,
              `ssl_options.keyfile = ${tls.keyFile}`,
              // The server does not ask clients for certificates of their own.
              'ssl_options.verify = verify_none',
              'ssl_options.fail_if_no_peer_cert = false',
            ]
          : []),
        'disk_free_limit.absolute = 50MB',
        'log.console = false',
        'log.file.level = warning',
        // A blank node joins the listed peers that are up; a node that has data (a restart)
        // rejoins the cluster its database names, whatever this says.
        ...(peers.length > 0
          ? [
              'cluster_formation.peer_discovery_backend = classic_config',
              // How often a blank node tries the listed peers before it forms a cluster of
              // its own (default 10 times, 500 ms apart: 5 s lost on the first node).
              // startRabbitCluster starts the first node alone and the others only once it
              // serves, so retrying gains nothing: its peers are down, their seed is ready.
              'cluster_formation.discovery_retry_limit = 2',
              'cluster_formation.discovery_retry_interval = 200',
              ...peers.map(
                (peer, i) => `cluster_formation.classic_config.nodes.${i + 1} = ${peer}`,
              ),
            ]
          : []),
        '',
      ].join('\n'),
    );
    if (this.#options.cookie !== undefined)
      writeCookie(join(this.#dir, 'home'), this.#options.cookie);
    if (this.#runAs) chownTree(this.#dir, this.#runAs);
    const log = openSync(join(this.#dir, 'server.log'), 'a');
    try {
      if (this.#options.ownEpmd !== false && this.epmdPid === undefined) {
        this.#epmdPid = spawnServer(
          'epmd',
          ['-address', '127.0.0.1', '-port', String(this.ports.epmd)],
          {
            runAs: this.#runAs,
            env: this.#env(),
            logFile: log,
          },
        );
      }
      this.#pid = spawnServer(server, [], { runAs: this.#runAs, env: this.#env(), logFile: log });
    } finally {
      closeSync(log);
    }
    onSpawn?.();
    await waitUntil(`RabbitMQ on port ${this.ports.amqp}`, () => amqpReachable(this.url), {
      timeoutMs: 90_000,
      intervalMs: 250,
      hint: () => this.logTail(),
    });
    const tlsUrl = this.tlsUrl;
    if (tls && tlsUrl)
      await waitUntil(
        `RabbitMQ AMQPS on port ${tls.port}`,
        () => amqpReachable(tlsUrl, tls.files.caFile),
        { timeoutMs: 30_000, intervalMs: 250, hint: () => this.logTail() },
      );
  }

  /** The TLS listener's port and files; its key copied for the rabbitmq user (chowned later). */
  #tlsListener(): { port: number; files: TlsFiles; keyFile: string } | undefined {
    const files = this.#options.tls;
    const port = this.ports.amqps;
    if (!files || port === undefined) return undefined;
    const keyFile = privateKeyCopy(files, join(this.#dir, 'tls-server.key'), undefined);
    return { port, files, keyFile };
  }

  /** Graceful stop: the start script traps SIGTERM and stops the node. */
  async stop(): Promise<void> {
    await stopGroup(this.pid, 30_000);
  }

  /**
   * SIGKILL to the whole node: connections drop without a close frame. On a single node, a
   * quorum queue declared less than about 500 ms before comes back empty and leaderless
   * (RabbitMQ 3.10's Ra saves its queue directory every 500 ms): kill later than that.
   */
  async kill(): Promise<void> {
    const pid = this.pid;
    if (pid === undefined) return;
    signalGroup(pid, 'SIGKILL');
    await waitForExit(pid, 10_000);
    await waitUntil('RabbitMQ to release its port', async () => !(await amqpReachable(this.url)), {
      timeoutMs: 10_000,
    });
  }

  /**
   * Runs `rabbitmqctl -n <this node> ...args` (also `rabbitmq-queues`, `rabbitmq-diagnostics`
   * with `tool`) with this node's environment: same epmd, cookie and loopback-only
   * distribution. Resolves with its stdout.
   */
  async ctl(
    args: readonly string[],
    options: {
      tool?: 'rabbitmqctl' | 'rabbitmq-queues' | 'rabbitmq-diagnostics';
      timeoutMs?: number;
    } = {},
  ): Promise<string> {
    const bin = join(dirname(locate('rabbitmq')), options.tool ?? 'rabbitmqctl');
    return runAsync(bin, ['-n', this.nodeName, ...args], {
      runAs: this.#runAs,
      env: this.#env(),
      timeoutMs: options.timeoutMs ?? 30_000,
    });
  }

  /** Stops the broker and its epmd. */
  async close(): Promise<void> {
    await this.stop();
    await stopGroup(this.epmdPid);
  }

  logTail(lines = 30): string {
    const parts: string[] = [];
    const serverLog = join(this.#dir, 'server.log');
    if (existsSync(serverLog)) parts.push(readFileSync(serverLog, 'utf8'));
    const logDir = join(this.#dir, 'log');
    if (existsSync(logDir)) {
      for (const file of readdirSync(logDir)) parts.push(readFileSync(join(logDir, file), 'utf8'));
    }
    return parts.join('\n').trim().split('\n').slice(-lines).join('\n');
  }
}

/** `.erlang.cookie` in `home`, mode 0400 as Erlang requires; left alone when already right. */
function writeCookie(home: string, cookie: string): void {
  const file = join(home, '.erlang.cookie');
  if (existsSync(file) && readFileSync(file, 'utf8') === cookie) return;
  rmSync(file, { force: true });
  writeFileSync(file, cookie, { mode: 0o400 });
}

function chownTree(dir: string, runAs: RunAs): void {
  chownSync(dir, runAs.uid, runAs.gid);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) chownTree(path, runAs);
    else chownSync(path, runAs.uid, runAs.gid);
  }
}

/**
 * Starts RabbitMQ (and its own epmd) on free loopback ports. `track` sees the handle before
 * it is ready, so a caller can stop it even if start-up fails or is interrupted.
 */
export async function startRabbitMq(opts: {
  dir: string;
  track?: (server: RabbitMqServer) => void;
  onSpawn?: () => void;
  /** Certificates for an AMQPS listener beside the plain one. Default: none, no TLS. */
  tls?: TlsFiles;
}): Promise<RabbitMqServer> {
  const ports: RabbitPorts = {
    amqp: await freePort(),
    dist: await freePort(),
    epmd: await freePort(),
    ...(opts.tls ? { amqps: await freePort() } : {}),
  };
  const server = new RabbitMqServer(
    ports,
    join(opts.dir, 'rabbitmq'),
    {},
    opts.tls ? { tls: opts.tls } : {},
  );
  opts.track?.(server);
  try {
    await server.start(opts.onSpawn);
  } catch (error) {
    await server.close().catch(() => {});
    throw error;
  }
  return server;
}
