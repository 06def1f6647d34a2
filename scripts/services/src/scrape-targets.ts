// Scrape targets as Prometheus' file-based service discovery reads them: one JSON file per
// job in a folder. Prometheus and VictoriaMetrics of one run read the same folder, so a job set
// once is scraped by both.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** One scrape job: `targets` (host:port) scraped at `metricsPath`. */
export interface ScrapeJob {
  job: string;
  targets: string[];
  metricsPath?: string;
}

/** Adds or replaces `job`'s file in `dir`; an empty target list retires the job. */
export function writeScrapeJob(dir: string, job: ScrapeJob): void {
  mkdirSync(dir, { recursive: true });
  const labels: Record<string, string> = { job: job.job };
  if (job.metricsPath) labels['__metrics_path__'] = job.metricsPath;
  const file = join(dir, `${job.job.replace(/[^\w-]/g, '_')}.json`);
  // Written aside and renamed: a reader never sees half a file.
  writeFileSync(`${file}.tmp`, JSON.stringify([{ targets: job.targets, labels }], null, 2));
  renameSync(`${file}.tmp`, file);
}

/** The `scrape_configs` lines of a config that reads every job file in `dir`. */
export function fileSdConfig(dir: string, opts: { refreshInterval?: string } = {}): string[] {
  return [
    'scrape_configs:',
    '  - job_name: file_sd',
    '    file_sd_configs:',
    `      - files: [${JSON.stringify(join(dir, '*.json'))}]`,
    ...(opts.refreshInterval ? [`        refresh_interval: ${opts.refreshInterval}`] : []),
  ];
}
