import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  chmodSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServicesError } from './errors.js';
import { ensureInstalled, postgresBinDir, type Requirement } from './internal/install.js';
import { isAlive, onProcessEnd, signalGroup, systemUser } from './internal/proc.js';
import { readState, writeState, type Parts } from './internal/run-state.js';
import { PgNode, PostgresPair, startPostgres } from './postgres.js';
import { PrometheusServer, startPrometheus } from './prometheus.js';
import { RabbitMqServer, startRabbitMq } from './rabbitmq.js';
import { RedisServer, startRedis } from './redis.js';
import { writeScrapeJob, type ScrapeJob } from './scrape-targets.js';
import { createTlsFiles, type TlsFiles } from './tls.js';
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
  /**
   * TLS listeners beside the plain ones, with a CA made for the run: PostgreSQL `ssl = on` (same
   * port), a Redis `tls-port`, a RabbitMQ AMQPS listener. Default: true.
   */
  tls?: boolean;
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
  /** The primary over TLS: `sslmode=verify-full&sslrootcert=<the run's CA>`. */
  DATABASE_TLS_URL?: string;
  /** The replica over TLS, the same way. */
  DATABASE_REPLICA_TLS_URL?: string;
  /** `rediss://` on Redis's TLS port, `ssl_ca_certs=<the run's CA>`. */
  REDIS_TLS_URL?: string;
  /** `amqps://` on RabbitMQ's TLS listener, `cacertfile=<the run's CA>`. */
  AMQP_TLS_URL?: string;
  /** The run's CA certificate (PEM), which signed every server's certificate. */
  MESKIT_TEST_CA_FILE?: string;
  MESKIT_SERVICES_DIR: string;
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
  /** The run's CA and server certificate; undefined when started without TLS. */
  readonly tls: TlsFiles | undefined;
  #closed: Promise<void> | undefined;
  readonly #unhook: () => void;

  constructor(dir: string, parts: Parts, detached: boolean, tls?: TlsFiles) {
    this.dir = dir;
    this.tls = tls;
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
    if (this.postgres?.primary.tlsUrl) urls.DATABASE_TLS_URL = this.postgres.primary.tlsUrl;
    if (this.postgres?.replica?.tlsUrl)
      urls.DATABASE_REPLICA_TLS_URL = this.postgres.replica.tlsUrl;
    if (this.redis?.tlsUrl) urls.REDIS_TLS_URL = this.redis.tlsUrl;
    if (this.rabbitmq?.tlsUrl) urls.AMQP_TLS_URL = this.rabbitmq.tlsUrl;
    if (this.tls) urls.MESKIT_TEST_CA_FILE = this.tls.caFile;
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
  // One CA for the whole run: every server's certificate names localhost and 127.0.0.1.
  const tls = opts.tls === false ? undefined : createTlsFiles({ dir: join(dir, 'tls') });
  // Recorded from the first moment and after every spawn, so that whatever happens next
  // (a failed start, Ctrl-C, SIGKILL) the servers can be found and stopped.
  const record = () => writeState(dir, parts, detached, tls);
  record();
  const partial = () => new Services(dir, parts, true, tls);
  const unhook = detached ? () => {} : onProcessEnd(() => partial().killNow());
  const started = Date.now();
  try {
    const tasks: Promise<unknown>[] = [];
    if (only.includes('postgres')) {
      const track = (pair: PostgresPair) => void ((parts.postgres = pair), record());
      tasks.push(
        startPostgres({ dir, replica: opts.replica ?? true, track, ...(tls ? { tls } : {}) }),
      );
    }
    if (only.includes('rabbitmq')) {
      const track = (server: RabbitMqServer) => void ((parts.rabbitmq = server), record());
      tasks.push(startRabbitMq({ dir, track, onSpawn: record, ...(tls ? { tls } : {}) }));
    }
    if (only.includes('redis')) {
      const track = (server: RedisServer) => void ((parts.redis = server), record());
      tasks.push(startRedis({ dir, track, onSpawn: record, ...(tls ? { tls } : {}) }));
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
  const services = new Services(dir, parts, detached, tls);
  log(
    `services ready in ${((Date.now() - started) / 1000).toFixed(1)} s (${only.join(', ')}${tls ? ', with TLS' : ''}) under ${dir}`,
  );
  return services;
}

/** Reattaches to a run started by another process (for `services stop|status|env`). */
export function attachServices(dir: string): Services {
  const state = readState(dir);
  const tls = state.tls;
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
      caFile: tls?.caFile,
    });
    const replica = state.postgres.replicaPort
      ? new PgNode({
          role: 'replica',
          port: state.postgres.replicaPort,
          dataDir: join(base, 'replica'),
          bin,
          runAs,
          caFile: tls?.caFile,
        })
      : undefined;
    parts.postgres = new PostgresPair(primary, replica ? [replica] : []);
  }
  if (state.redis)
    parts.redis = new RedisServer(
      state.redis.port,
      join(dir, 'redis'),
      state.redis.pid,
      tls && state.redis.tlsPort ? { port: state.redis.tlsPort, files: tls } : undefined,
    );
  if (state.rabbitmq)
    parts.rabbitmq = new RabbitMqServer(
      state.rabbitmq.ports,
      join(dir, 'rabbitmq'),
      state.rabbitmq,
      tls ? { tls } : {},
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
  return new Services(dir, parts, true, tls);
}

/** Runs whose owner died without cleaning up (SIGKILL, a crashed runner): stop and remove. */
function reapStale(baseDir: string, log: (line: string) => void): void {
  if (!existsSync(baseDir)) return;
  for (const entry of readdirSync(baseDir)) {
    if (!entry.startsWith(PREFIX)) continue;
    const dir = join(baseDir, entry);
    try {
      const state = readState(dir);
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
