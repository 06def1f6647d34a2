// Reading a process's Prometheus text exposition: the samples, and one value by name. Enough
// of the format for prom-client's output (and the bare MES's probe), not a general parser.
import { request } from 'node:http';

export interface MetricSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*/y;

function unescapeLabel(value: string): string {
  return value.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < text.length) {
    const at = LABEL.lastIndex;
    const match = LABEL.exec(text);
    if (!match || match.index !== at) throw new Error(`cannot read the labels of "${line}"`);
    labels[match[1]!] = unescapeLabel(match[2]!);
  }
  return labels;
}

/**
 * The samples of a text exposition (`name{label="value"} 1.5`), comments and blank lines
 * skipped. Throws on a line it cannot read: a scrape that is not metrics is an error.
 */
export function parsePrometheusText(text: string): MetricSample[] {
  const samples: MetricSample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = LINE.exec(line);
    if (!match) throw new Error(`not a Prometheus sample line: "${line.slice(0, 120)}"`);
    const value = Number(
      match[3] === '+Inf' ? Infinity : match[3] === '-Inf' ? -Infinity : match[3],
    );
    samples.push({
      name: match[1]!,
      labels: match[2] ? parseLabels(match[2], line) : {},
      value,
    });
  }
  return samples;
}

/** The value of the first sample named `name`, or undefined when the exposition has none. */
export function metricValue(samples: readonly MetricSample[], name: string): number | undefined {
  return samples.find((s) => s.name === name)?.value;
}

/**
 * GETs `url` once on a connection of its own, closed after the answer (`Connection: close`):
 * a kept-alive scrape connection would come and go between samples and move the socket
 * count it is meant to measure. Rejects on a non-200 answer or after `timeoutMs`.
 */
export function scrape(url: string, timeoutMs: number): Promise<MetricSample[]> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, headers: { connection: 'close' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        if (res.statusCode !== 200) {
          reject(new Error(`GET ${url} answered ${res.statusCode ?? '?'}`));
          return;
        }
        try {
          resolve(parsePrometheusText(Buffer.concat(chunks).toString('utf8')));
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      });
    });
    req.setTimeout(timeoutMs, () =>
      req.destroy(new Error(`GET ${url}: no answer within ${timeoutMs} ms`)),
    );
    req.on('error', reject);
    req.end();
  });
}
