import { closeSync, mkdirSync, openSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { locate } from './internal/install.js';
import { freePort, isAlive, spawnServer, waitUntil, stopGroup, tailFile } from './internal/proc.js';

/** One scrape job: Prometheus scrapes `targets` (host:port) at `metricsPath`. */
export interface ScrapeJob {
  job: string;
  targets: string[];
  metricsPath?: string;
}

/** Prometheus on loopback; scrape targets are file-discovered, so they can change while it runs. */
export class PrometheusServer {
  readonly port: number;
  readonly url: string;
  readonly #dir: string;
  #pid: number | undefined;

  constructor(port: number, dir: string, pid?: number) {
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.#dir = dir;
    this.#pid = pid;
  }

  get pid(): number | undefined {
    return this.#pid !== undefined && isAlive(this.#pid) ? this.#pid : undefined;
  }

  /** Adds or replaces a scrape job; Prometheus picks the file up within about a second. */
  setScrapeJob(job: ScrapeJob): void {
    const targetsDir = join(this.#dir, 'targets');
    mkdirSync(targetsDir, { recursive: true });
    const labels: Record<string, string> = { job: job.job };
    if (job.metricsPath) labels['__metrics_path__'] = job.metricsPath;
    const file = join(targetsDir, `${job.job.replace(/[^\w-]/g, '_')}.json`);
    writeFileSync(`${file}.tmp`, JSON.stringify([{ targets: job.targets, labels }], null, 2));
    renameSync(`${file}.tmp`, file);
  }

  async start(
    opts: { scrapeIntervalSeconds?: number; ruleFiles?: string[]; onSpawn?: () => void } = {},
  ): Promise<void> {
    if (this.pid !== undefined) return;
    mkdirSync(join(this.#dir, 'targets'), { recursive: true });
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
        'scrape_configs:',
        '  - job_name: file_sd',
        '    file_sd_configs:',
        `      - files: [${JSON.stringify(join(this.#dir, 'targets', '*.json'))}]`,
        '        refresh_interval: 1s',
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
  jobs?: ScrapeJob[];
  scrapeIntervalSeconds?: number;
  ruleFiles?: string[];
  track?: (server: PrometheusServer) => void;
  onSpawn?: () => void;
}): Promise<PrometheusServer> {
  const server = new PrometheusServer(await freePort(), join(opts.dir, 'prometheus'));
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
