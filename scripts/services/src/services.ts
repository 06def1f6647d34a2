import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  chmodSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServicesError } from './errors.js';
import { ensureInstalled, postgresBinDir, type Requirement } from './internal/install.js';
import { isAlive, onProcessEnd, signalGroup, systemUser } from './internal/proc.js';
import { PgNode, PostgresPair, startPostgres } from './postgres.js';
import { PrometheusServer, startPrometheus } from './prometheus.js';
import { RabbitMqServer, startRabbitMq } from './rabbitmq.js';
import { RedisServer, startRedis } from './redis.js';
import { writeScrapeJob, type ScrapeJob } from './scrape-targets.js';
import { VictoriaMetricsServer, startVictoriaMetrics } from './victoria-metrics.js';

export type ServiceName = 'postgres' | 'redis' | 'rabbitmq' | 'prometheus' | 'victoriametrics';
export const ALL_SERVICES: readonly ServiceName[] = [
  'postgres',
  'redis',
  'rabbitmq',
  'prometheus',
  'victoriametrics',
];

export interface StartServicesOptions {
  /** Which servers to start. Default: all of them. */
  only?: readonly ServiceName[];
  /** Start the PostgreSQL streaming replica. Default: true. */
  replica?: boolean;
  /** Parent folder of the run's data folder. Default: the OS temp folder. */
  baseDir?: string;
  /** Initial scrape jobs of Prometheus and VictoriaMetrics. Default: none. */
  scrapeJobs?: ScrapeJob[];
  /** Prometheus rule files to load. Default: none. */
  ruleFiles?: string[];
  /**
   * Leave the servers running when this process exits (the CLI's `start`). Default: false,
   * so the servers die with the process that started them, even on a crash.
   */
  detached?: boolean;
  /** Progress lines. Default: silent. */
  log?: (line: string) => void;
}

/** The env exports that tests, the demo and the CLI read. */
export interface ServiceUrls {
  DATABASE_URL?: string;
  DATABASE_REPLICA_URL?: string;
  REDIS_URL?: string;
  AMQP_URL?: string;
  PROMETHEUS_URL?: string;
  VICTORIA_METRICS_URL?: string;
  MESKIT_SERVICES_DIR: string;
}

/** What a run writes to `<dir>/state.json`, so another process can stop or inspect it. */
interface RunState {
  ownerPid: number;
  detached: boolean;
  postgres?: { primaryPort: number; replicaPort?: number };
  redis?: { port: number; pid?: number };
  rabbitmq?: {
    ports: { amqp: number; dist: number; epmd: number };
    pid?: number;
    epmdPid?: number;
  };
  prometheus?: { port: number; pid?: number };
  victoriametrics?: { port: number; pid?: number };
}

const PREFIX = 'meskit-services-';
/** The scrape target files of the run, read by its Prometheus and its VictoriaMetrics. */
const TARGETS = 'scrape-targets';

/** The running servers of one run, with the handles fault tests drive. */
export class Services {
  readonly dir: string;
  readonly postgres: PostgresPair | undefined;
  readonly redis: RedisServer | undefined;
  readonly rabbitmq: RabbitMqServer | undefined;
  readonly prometheus: PrometheusServer | undefined;
  readonly victoriametrics: VictoriaMetricsServer | undefined;
  #closed: Promise<void> | undefined;
  readonly #unhook: () => void;

  constructor(dir: string, parts: Parts, detached: boolean) {
    this.dir = dir;
    this.postgres = parts.postgres;
    this.redis = parts.redis;
    this.rabbitmq = parts.rabbitmq;
    this.prometheus = parts.prometheus;
    this.victoriametrics = parts.victoriametrics;
    // Servers die with the process that started them, on exit and on SIGINT/SIGTERM/SIGHUP.
    this.#unhook = detached ? () => {} : onProcessEnd(() => this.killNow());
  }

  get urls(): ServiceUrls {
    const urls: ServiceUrls = { MESKIT_SERVICES_DIR: this.dir };
    if (this.postgres) urls.DATABASE_URL = this.postgres.primary.url;
    if (this.postgres?.replica) urls.DATABASE_REPLICA_URL = this.postgres.replica.url;
    if (this.redis) urls.REDIS_URL = this.redis.url;
    if (this.rabbitmq) urls.AMQP_URL = this.rabbitmq.url;
    if (this.prometheus) urls.PROMETHEUS_URL = this.prometheus.url;
    if (this.victoriametrics) urls.VICTORIA_METRICS_URL = this.victoriametrics.url;
    return urls;
  }

  /** `export NAME='value'` lines for a shell. */
  exports(): string {
    return Object.entries(this.urls)
      .map(([name, value]) => `export ${name}='${String(value)}'`)
      .join('\n');
  }

  /**
   * Stops every server and removes the data folder. Safe to call twice.
   * @throws ServicesError STOP_FAILED naming the servers that would not stop.
   */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#unhook();
      const results = await Promise.allSettled([
        this.postgres?.stop(),
        this.redis?.stop(),
        this.rabbitmq?.close(),
        this.prometheus?.stop(),
        this.victoriametrics?.stop(),
      ]);
      rmSync(this.dir, { recursive: true, force: true });
      const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed.length > 0) {
        throw new ServicesError(
          'STOP_FAILED',
          `some servers did not stop: ${failed.map((r) => String(r.reason)).join('; ')}`,
        );
      }
    })();
    return this.#closed;
  }

  /** Synchronous last resort on process exit: signals only, no waiting. */
  killNow(): void {
    const pids = [
      this.redis?.pid,
      this.rabbitmq?.pid,
      this.rabbitmq?.epmdPid,
      this.prometheus?.pid,
      this.victoriametrics?.pid,
    ];
    for (const pid of pids) if (pid !== undefined) signalGroup(pid, 'SIGKILL');
    for (const node of [...(this.postgres?.replicas ?? []), this.postgres?.primary]) {
      const pid = node?.pid();
      // SIGQUIT is PostgreSQL's immediate shutdown: the postmaster takes its backends along.
      if (pid !== undefined) {
        try {
          process.kill(pid, 'SIGQUIT');
        } catch {
          /* already gone */
        }
      }
    }
  }
}

type Parts = {
  postgres?: PostgresPair | undefined;
  redis?: RedisServer | undefined;
  rabbitmq?: RabbitMqServer | undefined;
  prometheus?: PrometheusServer | undefined;
  victoriametrics?: VictoriaMetricsServer | undefined;
};

/**
 * Records the owner and every server started so far. Written as soon as the folder exists
 * and after each server starts, so that a run killed part-way can still be cleaned up.
 */
function writeState(dir: string, self: Parts, detached: boolean): void {
  const state: RunState = { ownerPid: process.pid, detached };
  if (self.postgres) {
    state.postgres = { primaryPort: self.postgres.primary.port };
    if (self.postgres.replica) state.postgres.replicaPort = self.postgres.replica.port;
  }
  if (self.redis)
    state.redis = { port: self.redis.port, ...(self.redis.pid ? { pid: self.redis.pid } : {}) };
  if (self.rabbitmq) {
    state.rabbitmq = { ports: self.rabbitmq.ports };
    if (self.rabbitmq.pid) state.rabbitmq.pid = self.rabbitmq.pid;
    if (self.rabbitmq.epmdPid) state.rabbitmq.epmdPid = self.rabbitmq.epmdPid;
  }
  if (self.prometheus)
    state.prometheus = {
      port: self.prometheus.port,
      ...(self.prometheus.pid ? { pid: self.prometheus.pid } : {}),
    };
  if (self.victoriametrics)
    state.victoriametrics = {
      port: self.victoriametrics.port,
      ...(self.victoriametrics.pid ? { pid: self.victoriametrics.pid } : {}),
    };
  writeFileSync(join(dir, 'state.json.tmp'), JSON.stringify(state, null, 2));
  renameSync(join(dir, 'state.json.tmp'), join(dir, 'state.json'));
}

const REQUIREMENT_OF: Record<ServiceName, Requirement> = {
  postgres: 'postgres',
  redis: 'redis',
  rabbitmq: 'rabbitmq',
  prometheus: 'prometheus',
  victoriametrics: 'victoriametrics',
};

/**
 * Starts real servers on 127.0.0.1, free ports, data under a fresh temp folder. Installs
 * missing Debian packages when it can (root with apt-get), otherwise says what to install.
 * On any failure it stops what it had started before rethrowing.
 */
export async function startServices(opts: StartServicesOptions = {}): Promise<Services> {
  const only = opts.only ?? ALL_SERVICES;
  for (const name of only) {
    if (!ALL_SERVICES.includes(name)) {
      throw new ServicesError(
        'BAD_OPTIONS',
        `unknown service "${String(name)}": expected one of ${ALL_SERVICES.join(', ')}`,
      );
    }
  }
  const log = opts.log ?? (() => {});
  ensureInstalled(
    only.map((name) => REQUIREMENT_OF[name]),
    log,
  );
  const baseDir = opts.baseDir ?? tmpdir();
  reapStale(baseDir, log);
  mkdirSync(baseDir, { recursive: true });
  const dir = mkdtempSync(join(baseDir, PREFIX));
  // The servers run as their own users (postgres, rabbitmq): they must be able to enter it.
  chmodSync(dir, 0o755);
  const parts: Parts = {};
  const detached = opts.detached ?? false;
  // Recorded from the first moment and after every spawn, so that whatever happens next
  // (a failed start, Ctrl-C, SIGKILL) the servers can be found and stopped.
  const record = () => writeState(dir, parts, detached);
  record();
  const partial = () => new Services(dir, parts, true);
  const unhook = detached ? () => {} : onProcessEnd(() => partial().killNow());
  const started = Date.now();
  try {
    const tasks: Promise<unknown>[] = [];
    if (only.includes('postgres')) {
      const track = (pair: PostgresPair) => void ((parts.postgres = pair), record());
      tasks.push(startPostgres({ dir, replica: opts.replica ?? true, track }));
    }
    if (only.includes('rabbitmq')) {
      const track = (server: RabbitMqServer) => void ((parts.rabbitmq = server), record());
      tasks.push(startRabbitMq({ dir, track, onSpawn: record }));
    }
    if (only.includes('redis')) {
      const track = (server: RedisServer) => void ((parts.redis = server), record());
      tasks.push(startRedis({ dir, track, onSpawn: record }));
    }
    if (only.includes('prometheus')) {
      const track = (server: PrometheusServer) => void ((parts.prometheus = server), record());
      tasks.push(
        startPrometheus({
          dir,
          targetsDir: join(dir, TARGETS),
          jobs: opts.scrapeJobs ?? [],
          ruleFiles: opts.ruleFiles ?? [],
          track,
          onSpawn: record,
        }),
      );
    }
    if (only.includes('victoriametrics')) {
      const track = (server: VictoriaMetricsServer) =>
        void ((parts.victoriametrics = server), record());
      // Without Prometheus in the run, the initial jobs are written here.
      if (!only.includes('prometheus'))
        for (const job of opts.scrapeJobs ?? []) writeScrapeJob(join(dir, TARGETS), job);
      tasks.push(
        startVictoriaMetrics({ dir, targetsDir: join(dir, TARGETS), track, onSpawn: record }),
      );
    }
    const results = await Promise.allSettled(tasks);
    const failure = results.find(
      (result): result is PromiseRejectedResult => result.status === 'rejected',
    );
    if (failure) throw failure.reason;
  } catch (error) {
    unhook();
    await partial()
      .close()
      .catch(() => {});
    throw error;
  }
  unhook();
  record();
  const services = new Services(dir, parts, detached);
  log(
    `services ready in ${((Date.now() - started) / 1000).toFixed(1)} s (${only.join(', ')}) under ${dir}`,
  );
  return services;
}

/** Reattaches to a run started by another process (for `services stop|status|env`). */
export function attachServices(dir: string): Services {
  const file = join(dir, 'state.json');
  if (!existsSync(file))
    throw new ServicesError('BAD_OPTIONS', `no services run in ${dir} (state.json missing)`);
  const state = JSON.parse(readFileSync(file, 'utf8')) as RunState;
  const parts: Parts = {};
  if (state.postgres) {
    const bin = postgresBinDir() ?? '/usr/lib/postgresql/15/bin';
    const runAs = systemUser('postgres');
    const base = join(dir, 'postgres');
    const primary = new PgNode({
      role: 'primary',
      port: state.postgres.primaryPort,
      dataDir: join(base, 'primary'),
      bin,
      runAs,
    });
    const replica = state.postgres.replicaPort
      ? new PgNode({
          role: 'replica',
          port: state.postgres.replicaPort,
          dataDir: join(base, 'replica'),
          bin,
          runAs,
        })
      : undefined;
    parts.postgres = new PostgresPair(primary, replica ? [replica] : []);
  }
  if (state.redis)
    parts.redis = new RedisServer(state.redis.port, join(dir, 'redis'), state.redis.pid);
  if (state.rabbitmq)
    parts.rabbitmq = new RabbitMqServer(
      state.rabbitmq.ports,
      join(dir, 'rabbitmq'),
      state.rabbitmq,
    );
  if (state.prometheus)
    parts.prometheus = new PrometheusServer(
      state.prometheus.port,
      join(dir, 'prometheus'),
      state.prometheus.pid,
      join(dir, TARGETS),
    );
  if (state.victoriametrics)
    parts.victoriametrics = new VictoriaMetricsServer(
      state.victoriametrics.port,
      join(dir, 'victoria-metrics'),
      join(dir, TARGETS),
      state.victoriametrics.pid,
    );
  return new Services(dir, parts, true);
}

/** Runs whose owner died without cleaning up (SIGKILL, a crashed runner): stop and remove. */
function reapStale(baseDir: string, log: (line: string) => void): void {
  if (!existsSync(baseDir)) return;
  for (const entry of readdirSync(baseDir)) {
    if (!entry.startsWith(PREFIX)) continue;
    const dir = join(baseDir, entry);
    try {
      const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as RunState;
      if (state.detached || isAlive(state.ownerPid)) continue;
      log(`removing servers left behind by process ${state.ownerPid} in ${dir}`);
      attachServices(dir).killNow();
      killProcessesUsing(dir);
      rmSync(dir, { recursive: true, force: true });
    } catch {
      /* best effort: never block a new run on an old one */
    }
  }
}

/**
 * SIGKILLs every process whose command line names `dir` (a server whose pid was not
 * recorded yet when its owner died). Linux only; elsewhere a no-op.
 */
function killProcessesUsing(dir: string): void {
  if (!existsSync('/proc')) return;
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir)) process.kill(pid, 'SIGKILL');
    } catch {
      /* gone, or not ours to read */
    }
  }
}
