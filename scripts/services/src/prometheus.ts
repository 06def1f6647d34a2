import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { locate } from './internal/install.js';
import { freePort, isAlive, spawnServer, waitUntil, stopGroup, tailFile } from './internal/proc.js';
import { fileSdConfig, writeScrapeJob, type ScrapeJob } from './scrape-targets.js';

/**
 * Prometheus on loopback; scrape targets are file-discovered (scrape-targets.ts), so they can
 * change while it runs. A run's VictoriaMetrics reads the same target files.
 */
export class PrometheusServer {
  readonly port: number;
  readonly url: string;
  readonly #dir: string;
  readonly #targetsDir: string;
  #pid: number | undefined;

  /** `targetsDir`: the scrape target files. Default: `<dir>/targets`. */
  constructor(port: number, dir: string, pid?: number, targetsDir = join(dir, 'targets')) {
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.#dir = dir;
    this.#targetsDir = targetsDir;
    this.#pid = pid;
  }

  get pid(): number | undefined {
    return this.#pid !== undefined && isAlive(this.#pid) ? this.#pid : undefined;
  }

  /**
   * Adds or replaces a scrape job; Prometheus (and a VictoriaMetrics reading the same target
   * files) picks the file up within about a second.
   */
  setScrapeJob(job: ScrapeJob): void {
    writeScrapeJob(this.#targetsDir, job);
  }

  async start(
    opts: { scrapeIntervalSeconds?: number; ruleFiles?: string[]; onSpawn?: () => void } = {},
  ): Promise<void> {
    if (this.pid !== undefined) return;
    mkdirSync(this.#dir, { recursive: true });
    mkdirSync(this.#targetsDir, { recursive: true });
    const interval = `${opts.scrapeIntervalSeconds ?? 1}s`;
    writeFileSync(
      join(this.#dir, 'prometheus.yml'),
      [
        'global:',
        `  scrape_interval: ${interval}`,
        `  evaluation_interval: ${interval}`,
        ...(opts.ruleFiles?.length
          ? ['rule_files:', ...opts.ruleFiles.map((f) => `  - ${JSON.stringify(f)}`)]
          : []),
        ...fileSdConfig(this.#targetsDir, { refreshInterval: '1s' }),
        '',
      ].join('\n'),
    );
    const log = openSync(join(this.#dir, 'prometheus.log'), 'a');
    try {
      this.#pid = spawnServer(
        locate('prometheus'),
        [
          `--config.file=${join(this.#dir, 'prometheus.yml')}`,
          `--storage.tsdb.path=${join(this.#dir, 'data')}`,
          `--web.listen-address=127.0.0.1:${this.port}`,
          '--web.enable-lifecycle',
          '--log.level=warn',
        ],
        { logFile: log },
      );
    } finally {
      closeSync(log);
    }
    opts.onSpawn?.();
    await waitUntil(
      `Prometheus on port ${this.port}`,
      async () => (await fetch(`${this.url}/-/ready`)).ok,
      {
        timeoutMs: 30_000,
        hint: () => this.logTail(),
      },
    );
  }

  async stop(): Promise<void> {
    await stopGroup(this.pid);
  }

  logTail(lines = 20): string {
    return tailFile(join(this.#dir, 'prometheus.log'), lines);
  }
}

export async function startPrometheus(opts: {
  dir: string;
  /** The scrape target files. Default: `<dir>/prometheus/targets`. */
  targetsDir?: string;
  jobs?: ScrapeJob[];
  scrapeIntervalSeconds?: number;
  ruleFiles?: string[];
  track?: (server: PrometheusServer) => void;
  onSpawn?: () => void;
}): Promise<PrometheusServer> {
  const server = new PrometheusServer(
    await freePort(),
    join(opts.dir, 'prometheus'),
    undefined,
    opts.targetsDir,
  );
  opts.track?.(server);
  for (const job of opts.jobs ?? []) server.setScrapeJob(job);
  try {
    await server.start(opts);
  } catch (error) {
    await server.stop().catch(() => {});
    throw error;
  }
  return server;
}
