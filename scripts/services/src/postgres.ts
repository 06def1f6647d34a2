import { appendFileSync, chownSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { ServicesError } from './errors.js';
import { postgresBinDir } from './internal/install.js';
import { fileParam, privateKeyCopy, type TlsFiles } from './tls.js';
import {
  freePort,
  isAlive,
  run,
  systemUser,
  waitForExit,
  waitUntil,
  type RunAs,
  tailFile,
} from './internal/proc.js';

/** How to stop a node: `fast` rolls back sessions and shuts down cleanly, `immediate` aborts. */
export type PgStopMode = 'smart' | 'fast' | 'immediate';

/** One PostgreSQL server (primary or replica) running from its own data folder. */
export class PgNode {
  readonly role: 'primary' | 'replica';
  /** `primary`, `replica`, `replica-2`...: names its data folder and its log. */
  readonly name: string;
  readonly port: number;
  readonly dataDir: string;
  readonly url: string;
  /**
   * The same server over TLS, verified against the run's CA (`sslmode=verify-full`); undefined
   * when the node was started without TLS.
   */
  readonly tlsUrl: string | undefined;
  readonly #bin: string;
  readonly #runAs: RunAs | undefined;

  constructor(opts: {
    role: 'primary' | 'replica';
    name?: string;
    port: number;
    dataDir: string;
    bin: string;
    runAs: RunAs | undefined;
    /** The CA that signed the server's certificate, when TLS is on. */
    caFile?: string | undefined;
  }) {
    this.role = opts.role;
    this.name = opts.name ?? opts.role;
    this.port = opts.port;
    this.dataDir = opts.dataDir;
    this.#bin = opts.bin;
    this.#runAs = opts.runAs;
    this.url = `postgres://postgres@127.0.0.1:${opts.port}/postgres`;
    this.tlsUrl =
      opts.caFile === undefined
        ? undefined
        : `${this.url}?sslmode=verify-full&${fileParam('sslrootcert', opts.caFile)}`;
  }

  /** The postmaster's pid, read from postmaster.pid; undefined when not running. */
  pid(): number | undefined {
    const file = join(this.dataDir, 'postmaster.pid');
    if (!existsSync(file)) return undefined;
    const pid = Number(readFileSync(file, 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 && isAlive(pid) ? pid : undefined;
  }

  isRunning(): boolean {
    return this.pid() !== undefined;
  }

  /** Starts the server and waits until it accepts connections. */
  async start(): Promise<void> {
    if (this.isRunning()) return;
    this.#pgCtl(['start', '-w', '-t', '60', '-l', join(this.dataDir, '..', `${this.name}.log`)]);
    await waitUntil(`PostgreSQL ${this.name} on port ${this.port}`, () => this.#canQuery(), {
      timeoutMs: 60_000,
      hint: () => this.logTail(),
    });
  }

  /** Stops the server; `immediate` is a crash-like stop (recovery on next start). */
  async stop(mode: PgStopMode = 'fast'): Promise<void> {
    if (!this.isRunning()) return;
    this.#pgCtl(['stop', '-w', '-t', '60', '-m', mode]);
  }

  /** SIGKILL to the postmaster: the harshest failure, as when a machine dies. */
  async kill(): Promise<void> {
    const pid = this.pid();
    if (pid === undefined) return;
    process.kill(pid, 'SIGKILL');
    await waitForExit(pid, 10_000);
    // Orphaned backends notice the postmaster is gone and exit; wait for the port to free.
    await waitUntil(
      `PostgreSQL ${this.name} backends to exit`,
      async () => !(await this.#canQuery()),
      {
        timeoutMs: 15_000,
      },
    );
  }

  /** Promotes a replica to a primary (failover). */
  async promote(): Promise<void> {
    this.#pgCtl(['promote', '-w', '-t', '60']);
  }

  /** Last lines of the server's log, for error messages. */
  logTail(lines = 20): string {
    return tailFile(join(this.dataDir, '..', `${this.name}.log`), lines);
  }

  /** Runs one query against this node on a short-lived connection. */
  async query<T extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    values?: unknown[],
  ): Promise<pg.QueryResult<T>> {
    const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 5_000 });
    client.on('error', () => {});
    await client.connect();
    try {
      return await client.query<T>(text, values);
    } finally {
      await client.end().catch(() => {});
    }
  }

  async #canQuery(): Promise<boolean> {
    try {
      await this.query('SELECT 1');
      return true;
    } catch {
      return false;
    }
  }

  #pgCtl(args: string[]): void {
    run(join(this.#bin, 'pg_ctl'), ['-D', this.dataDir, ...args], { runAs: this.#runAs });
  }
}

export interface PostgresPairOptions {
  /** Folder that will hold both data folders and their logs. */
  dir: string;
  /**
   * Streaming replicas beside the primary: `false` for none, `true` for one, or how many
   * (each its own pg_basebackup of the primary). Default: one.
   */
  replica?: boolean | number;
  /** Sees the pair's handle before its servers start. Default: none. */
  track?: (pair: PostgresPair) => void;
  /**
   * Certificates for TLS (`ssl = on` on the same port; plain connections stay allowed).
   * Default: none, no TLS.
   */
  tls?: TlsFiles;
}

/** A primary and its streaming replicas (pg_basebackup -R), on loopback. */
export class PostgresPair {
  readonly primary: PgNode;
  /** Every replica, in start order. */
  readonly replicas: readonly PgNode[];

  constructor(primary: PgNode, replicas: readonly PgNode[]) {
    this.primary = primary;
    this.replicas = replicas;
  }

  /** The first replica (the only one unless more were asked for). */
  get replica(): PgNode | undefined {
    return this.replicas[0];
  }

  /**
   * Holds replayed changes back on every replica by `ms` (recovery_min_apply_delay), so
   * tests can observe replication lag; 0 removes the delay. Takes effect on reload.
   */
  async setReplicaApplyDelay(ms: number): Promise<void> {
    this.#requireReplica();
    for (const replica of this.replicas) {
      appendFileSync(
        join(replica.dataDir, 'postgresql.auto.conf'),
        `recovery_min_apply_delay = '${Math.max(0, Math.round(ms))}ms'\n`,
      );
      if (replica.isRunning()) await replica.query('SELECT pg_reload_conf()');
    }
  }

  /**
   * Waits until every running replica has replayed everything the primary had inserted into
   * its WAL when called (the insert position: with synchronous_commit off, a commit record can
   * sit in WAL buffers past pg_current_wal_lsn()).
   */
  async waitForReplay(timeoutMs = 30_000): Promise<void> {
    this.#requireReplica();
    const { rows } = await this.primary.query<{ lsn: string }>(
      'SELECT pg_current_wal_insert_lsn()::text AS lsn',
    );
    const target = rows[0]?.lsn;
    for (const replica of this.replicas.filter((r) => r.isRunning())) {
      await waitUntil(
        `${replica.name} replay`,
        async () => {
          const result = await replica.query<{ caught: boolean }>(
            'SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS caught',
            [target],
          );
          return result.rows[0]?.caught === true;
        },
        { timeoutMs },
      );
    }
  }

  /** Whether the primary sees at least `count` replicas streaming (pg_stat_replication). */
  async replicaStreaming(count = 1): Promise<boolean> {
    const { rows } = await this.primary.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_replication WHERE state = 'streaming'",
    );
    return (rows[0]?.n ?? 0) >= count;
  }

  /** Stops every server (immediate mode: test data need no clean shutdown). */
  async stop(): Promise<void> {
    const results = await Promise.allSettled([
      ...this.replicas.map((r) => r.stop('immediate')),
      this.primary.stop('immediate'),
    ]);
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed.length > 0) {
      throw new ServicesError('STOP_FAILED', failed.map((r) => String(r.reason)).join('; '));
    }
  }

  #requireReplica(): void {
    if (this.replicas.length === 0)
      throw new ServicesError('BAD_OPTIONS', 'this PostgreSQL pair was started without a replica');
  }
}

const PRIMARY_CONF = (port: number, socketDir: string) => `
# meskit test server: loopback only, durability traded for speed (data is thrown away)
listen_addresses = '127.0.0.1'
port = ${port}
unix_socket_directories = '${socketDir}'
max_connections = 300
shared_buffers = '256MB'
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
wal_keep_size = '512MB'
hot_standby = on
hot_standby_feedback = on
max_standby_streaming_delay = '-1'
logging_collector = off
log_min_messages = warning
log_line_prefix = '%m [%p] '
`;

/** TLS on the same port: clients ask for it (sslmode), plain connections still work. */
const TLS_CONF = (certFile: string, keyFile: string) => `
ssl = on
ssl_cert_file = '${certFile}'
ssl_key_file = '${keyFile}'
`;

const HBA = `
local all all trust
host all all 127.0.0.1/32 trust
host replication all 127.0.0.1/32 trust
`;

/**
 * Creates, configures and starts a primary and (by default) its streaming replica. The pair
 * handle exists before either server starts; `opts.track` sees it then, so a caller can stop
 * what did start if start-up fails or is interrupted. On failure both are stopped here too.
 */
export async function startPostgres(opts: PostgresPairOptions): Promise<PostgresPair> {
  const bin = postgresBinDir();
  if (!bin)
    throw new ServicesError(
      'MISSING_PACKAGES',
      'PostgreSQL 15 or later is not installed: apt-get install postgresql',
    );
  const runAs = systemUser('postgres');
  const base = join(opts.dir, 'postgres');
  mkdirSync(base, { recursive: true, mode: 0o755 });
  if (runAs) chownSync(base, runAs.uid, runAs.gid);

  const primaryDir = join(base, 'primary');
  const count =
    opts.replica === false
      ? 0
      : opts.replica === true || opts.replica === undefined
        ? 1
        : opts.replica;
  if (!Number.isInteger(count) || count < 0 || count > 8)
    throw new ServicesError(
      'BAD_OPTIONS',
      `replica must be a boolean or 0 to 8 replicas, not ${String(opts.replica)}`,
    );
  const primary = new PgNode({
    role: 'primary',
    port: await freePort(),
    dataDir: primaryDir,
    bin,
    runAs,
    caFile: opts.tls?.caFile,
  });
  const replicas: PgNode[] = [];
  for (let i = 0; i < count; i++) {
    const name = i === 0 ? 'replica' : `replica-${i + 1}`;
    replicas.push(
      new PgNode({
        role: 'replica',
        name,
        port: await freePort(),
        dataDir: join(base, name),
        bin,
        runAs,
        caFile: opts.tls?.caFile,
      }),
    );
  }
  const pair = new PostgresPair(primary, replicas);
  opts.track?.(pair);
  try {
    await initPair(pair, bin, runAs, base, opts.tls);
  } catch (error) {
    await pair.stop();
    throw error;
  }
  return pair;
}

async function initPair(
  pair: PostgresPair,
  bin: string,
  runAs: RunAs | undefined,
  base: string,
  tls: TlsFiles | undefined,
): Promise<void> {
  const { primary, replicas } = pair;
  const primaryDir = primary.dataDir;
  run(
    join(bin, 'initdb'),
    ['-D', primaryDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'],
    { runAs },
  );
  appendFileSync(join(primaryDir, 'postgresql.conf'), PRIMARY_CONF(primary.port, base));
  // Outside the data folders, so that the replicas' copied settings point at the same files.
  if (tls) {
    const keyFile = privateKeyCopy(tls, join(base, 'server.key'), runAs);
    appendFileSync(join(primaryDir, 'postgresql.conf'), TLS_CONF(tls.certFile, keyFile));
  }
  appendFileSync(join(primaryDir, 'pg_hba.conf'), HBA);
  await primary.start();
  for (const replica of replicas) {
    run(
      join(bin, 'pg_basebackup'),
      [
        '-h',
        '127.0.0.1',
        '-p',
        String(primary.port),
        '-U',
        'postgres',
        '-D',
        replica.dataDir,
        '-R',
        '-X',
        'stream',
        '-c',
        'fast',
        '--no-sync',
      ],
      { runAs },
    );
    // pg_basebackup copied the primary's settings; the later line wins.
    appendFileSync(join(replica.dataDir, 'postgresql.conf'), `port = ${replica.port}\n`);
    await replica.start();
  }
  if (replicas.length === 0) return;
  await waitUntil(
    `${replicas.length} replica(s) to stream from the primary`,
    () => pair.replicaStreaming(replicas.length),
    { timeoutMs: 30_000, hint: () => replicas.map((r) => r.logTail()).join('\n') },
  );
}
