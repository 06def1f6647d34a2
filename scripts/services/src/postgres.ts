import { appendFileSync, chownSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { ServicesError } from './errors.js';
import { postgresBinDir } from './internal/install.js';
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
  readonly port: number;
  readonly dataDir: string;
  readonly url: string;
  readonly #bin: string;
  readonly #runAs: RunAs | undefined;

  constructor(opts: {
    role: 'primary' | 'replica';
    port: number;
    dataDir: string;
    bin: string;
    runAs: RunAs | undefined;
  }) {
    this.role = opts.role;
    this.port = opts.port;
    this.dataDir = opts.dataDir;
    this.#bin = opts.bin;
    this.#runAs = opts.runAs;
    this.url = `postgres://postgres@127.0.0.1:${opts.port}/postgres`;
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
    this.#pgCtl(['start', '-w', '-t', '60', '-l', join(this.dataDir, '..', `${this.role}.log`)]);
    await waitUntil(`PostgreSQL ${this.role} on port ${this.port}`, () => this.#canQuery(), {
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
      `PostgreSQL ${this.role} backends to exit`,
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
    return tailFile(join(this.dataDir, '..', `${this.role}.log`), lines);
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
  /** Start a streaming replica beside the primary. Default: true. */
  replica?: boolean;
  /** Sees the pair's handle before its servers start. Default: none. */
  track?: (pair: PostgresPair) => void;
}

/** A primary and its streaming replica (pg_basebackup -R), on loopback. */
export class PostgresPair {
  readonly primary: PgNode;
  readonly replica: PgNode | undefined;

  constructor(primary: PgNode, replica: PgNode | undefined) {
    this.primary = primary;
    this.replica = replica;
  }

  /**
   * Holds replayed changes back on the replica by `ms` (recovery_min_apply_delay), so
   * tests can observe replication lag; 0 removes the delay. Takes effect on reload.
   */
  async setReplicaApplyDelay(ms: number): Promise<void> {
    const replica = this.#requireReplica();
    appendFileSync(
      join(replica.dataDir, 'postgresql.auto.conf'),
      `recovery_min_apply_delay = '${Math.max(0, Math.round(ms))}ms'\n`,
    );
    await replica.query('SELECT pg_reload_conf()');
  }

  /**
   * Waits until the replica has replayed everything the primary had inserted into its WAL
   * when called (the insert position: with synchronous_commit off, a commit record can sit
   * in WAL buffers past pg_current_wal_lsn()).
   */
  async waitForReplay(timeoutMs = 30_000): Promise<void> {
    const replica = this.#requireReplica();
    const { rows } = await this.primary.query<{ lsn: string }>(
      'SELECT pg_current_wal_insert_lsn()::text AS lsn',
    );
    const target = rows[0]?.lsn;
    await waitUntil(
      'replica replay',
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

  /** Whether the primary sees the replica streaming (pg_stat_replication). */
  async replicaStreaming(): Promise<boolean> {
    const { rows } = await this.primary.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_replication WHERE state = 'streaming'",
    );
    return (rows[0]?.n ?? 0) > 0;
  }

  /** Stops both servers (immediate mode: test data need no clean shutdown). */
  async stop(): Promise<void> {
    const results = await Promise.allSettled([
      this.replica?.stop('immediate'),
      this.primary.stop('immediate'),
    ]);
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed.length > 0) {
      throw new ServicesError('STOP_FAILED', failed.map((r) => String(r.reason)).join('; '));
    }
  }

  #requireReplica(): PgNode {
    if (!this.replica)
      throw new ServicesError('BAD_OPTIONS', 'this PostgreSQL pair was started without a replica');
    return this.replica;
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

const HBA = `
local all all trust
host all all 127.0.0.1/32 trust
host replication all 127.0.0.1/32 trust
`;

/** Creates, configures and starts a primary and (by default) its streaming replica. */
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
  const replicaDir = join(base, 'replica');
  const primary = new PgNode({
    role: 'primary',
    port: await freePort(),
    dataDir: primaryDir,
    bin,
    runAs,
  });
  const replica =
    opts.replica === false
      ? undefined
      : new PgNode({ role: 'replica', port: await freePort(), dataDir: replicaDir, bin, runAs });
  const pair = new PostgresPair(primary, replica);
  opts.track?.(pair);
  try {
    await initPair(pair, bin, runAs, base);
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
): Promise<void> {
  const { primary, replica } = pair;
  const primaryDir = primary.dataDir;
  run(
    join(bin, 'initdb'),
    ['-D', primaryDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'],
    { runAs },
  );
  appendFileSync(join(primaryDir, 'postgresql.conf'), PRIMARY_CONF(primary.port, base));
  appendFileSync(join(primaryDir, 'pg_hba.conf'), HBA);
  await primary.start();
  if (!replica) return;
  const replicaDir = replica.dataDir;
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
      replicaDir,
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
  appendFileSync(join(replicaDir, 'postgresql.conf'), `port = ${replica.port}\n`);
  await replica.start();
  await waitUntil('the replica to stream from the primary', () => pair.replicaStreaming(), {
    timeoutMs: 30_000,
    hint: () => replica.logTail(),
  });
}
