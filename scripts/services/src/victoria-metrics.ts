// VictoriaMetrics (single-node) on loopback, scraping what the run's Prometheus scrapes: its
// own promscrape reads the same target files (scrape-targets.ts). Its HTTP API answers
// Prometheus' query API (/api/v1/query, /api/v1/query_range, /api/v1/series...), where
// Grafana's Prometheus datasource and the dashboards' query tests read it.
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { locate } from './internal/install.js';
import { freePort, isAlive, spawnServer, stopGroup, tailFile, waitUntil } from './internal/proc.js';
import { fileSdConfig } from './scrape-targets.js';

export class VictoriaMetricsServer {
  readonly port: number;
  readonly url: string;
  readonly #dir: string;
  readonly #targetsDir: string;
  #pid: number | undefined;

  constructor(port: number, dir: string, targetsDir: string, pid?: number) {
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.#dir = dir;
    this.#targetsDir = targetsDir;
    this.#pid = pid;
  }

  get pid(): number | undefined {
    return this.#pid !== undefined && isAlive(this.#pid) ? this.#pid : undefined;
  }

  async start(opts: { scrapeIntervalSeconds?: number; onSpawn?: () => void } = {}): Promise<void> {
    if (this.pid !== undefined) return;
    mkdirSync(this.#targetsDir, { recursive: true });
    const config = join(this.#dir, 'promscrape.yml');
    writeFileSync(
      config,
      [
        'global:',
        `  scrape_interval: ${opts.scrapeIntervalSeconds ?? 1}s`,
        ...fileSdConfig(this.#targetsDir),
        '',
      ].join('\n'),
    );
    const log = openSync(join(this.#dir, 'victoria-metrics.log'), 'a');
    try {
      this.#pid = spawnServer(
        locate('victoriametrics'),
        [
          `-httpListenAddr=127.0.0.1:${this.port}`,
          `-storageDataPath=${join(this.#dir, 'data')}`,
          `-promscrape.config=${config}`,
          // Job files are re-read every second, as Prometheus' refresh_interval above.
          '-promscrape.fileSDCheckInterval=1s',
          // By default an instant query ignores the last 30 s (samples still arriving from
          // other ingesters); a single node scraping every second has nothing in flight.
          '-search.latencyOffset=0s',
          // Results are not cached: a test re-asks the same query as data arrives.
          '-search.disableCache',
          '-retentionPeriod=1d',
          '-loggerLevel=WARN',
        ],
        { logFile: log },
      );
    } finally {
      closeSync(log);
    }
    opts.onSpawn?.();
    await waitUntil(
      `VictoriaMetrics on port ${this.port}`,
      async () => (await fetch(`${this.url}/health`)).ok,
      { timeoutMs: 30_000, hint: () => this.logTail() },
    );
  }

  async stop(): Promise<void> {
    await stopGroup(this.pid);
  }

  logTail(lines = 20): string {
    return tailFile(join(this.#dir, 'victoria-metrics.log'), lines);
  }
}

export async function startVictoriaMetrics(opts: {
  dir: string;
  /** The scrape target files, shared with the run's Prometheus. */
  targetsDir: string;
  scrapeIntervalSeconds?: number;
  track?: (server: VictoriaMetricsServer) => void;
  onSpawn?: () => void;
}): Promise<VictoriaMetricsServer> {
  const dir = join(opts.dir, 'victoria-metrics');
  mkdirSync(dir, { recursive: true });
  const server = new VictoriaMetricsServer(await freePort(), dir, opts.targetsDir);
  opts.track?.(server);
  try {
    await server.start(opts);
  } catch (error) {
    await server.stop().catch(() => {});
    throw error;
  }
  return server;
}
