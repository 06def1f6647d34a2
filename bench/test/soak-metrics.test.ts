// What the soak reads from a process's /metrics: prom-client's exposition parsed, the two
// default metrics it samples present under the names it reads, the error counters summed, one
// scrape on a connection of its own; and the bare MES's probe serving the same two names.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { collectDefaultMetrics, Counter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { metricErrorSamples, metricErrors, metricInfo } from '../src/benches/soak/errors.js';
import {
  metricValue,
  parsePrometheusText,
  scrape,
  type MetricSample,
} from '../src/benches/soak/prometheus.js';
import {
  ELD_P99_METRIC,
  EXTERNAL_METRIC,
  HEAP_METRIC,
  HEAP_TOTAL_METRIC,
} from '../src/benches/soak/sampler.js';

const PROBE = fileURLToPath(new URL('../fixtures/soak-probe.mjs', import.meta.url));

describe('parsePrometheusText', () => {
  it('reads samples with and without labels, escapes and special values', () => {
    const samples = parsePrometheusText(
      [
        '# HELP a_total A counter.',
        '# TYPE a_total counter',
        'a_total 3',
        'b_seconds_bucket{le="+Inf",route="/api/orders/:id"} 12',
        'c{msg="say \\"hi\\", ok",x="a\\\\b"} 1.5e-3 1700000000000',
        'd NaN',
        '',
      ].join('\n'),
    );
    expect(samples).toEqual([
      { name: 'a_total', labels: {}, value: 3 },
      { name: 'b_seconds_bucket', labels: { le: '+Inf', route: '/api/orders/:id' }, value: 12 },
      { name: 'c', labels: { msg: 'say "hi", ok', x: 'a\\b' }, value: 0.0015 },
      { name: 'd', labels: {}, value: Number.NaN },
    ]);
  });

  it('refuses what is not an exposition', () => {
    expect(() => parsePrometheusText('<html>not found</html>')).toThrow(/not a Prometheus/);
  });

  it("finds the heap and event-loop delay in prom-client's default metrics", async () => {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    const samples = parsePrometheusText(await registry.metrics());
    expect(metricValue(samples, HEAP_METRIC)).toBeGreaterThan(0);
    expect(metricValue(samples, ELD_P99_METRIC)).toBeGreaterThanOrEqual(0);
    expect(metricValue(samples, HEAP_TOTAL_METRIC)).toBeGreaterThan(0);
    expect(metricValue(samples, EXTERNAL_METRIC)).toBeGreaterThan(0);
    registry.clear();
  });
});

describe('error counters', () => {
  const sample = (name: string, labels: Record<string, string>, value: number): MetricSample => ({
    name,
    labels,
    value,
  });

  it('sums the failures and leaves the successes out', async () => {
    const registry = new Registry();
    const published = new Counter({
      name: 'meskit_mq_published_total',
      help: 'h',
      labelNames: ['outcome'],
      registers: [registry],
    });
    published.inc({ outcome: 'confirmed' }, 500);
    published.inc({ outcome: 'timeout' }, 2);
    published.inc({ outcome: 'nacked' }, 1);
    const samples = [
      ...parsePrometheusText(await registry.metrics()),
      sample('meskit_http_server_request_duration_seconds_count', { status_code: '200' }, 900),
      sample('meskit_http_server_request_duration_seconds_count', { status_code: '503' }, 4),
      sample('meskit_http_server_request_duration_seconds_count', { status_code: '409' }, 30),
      sample('meskit_mq_consumed_total', { queue: 'q', outcome: 'acked' }, 70),
      sample('meskit_mq_consumed_total', { queue: 'q', outcome: 'duplicate' }, 3),
      sample('meskit_mq_consumed_total', { queue: 'q', outcome: 'dead_lettered' }, 1),
      sample('meskit_cache_fills_total', { outcome: 'written' }, 40),
      sample('meskit_cache_fills_total', { outcome: 'upstream_error' }, 2),
    ];
    const errors = metricErrors(samples);
    expect(errors['publishes not confirmed']).toBe(3);
    expect(errors['HTTP 5xx answered']).toBe(4);
    expect(errors['deliveries dead-lettered, unparseable or requeued']).toBe(1);
    expect(errors['cache fills failed (store or MES)']).toBe(2);
    expect(errors['spans dropped']).toBe(0);
    expect(metricInfo(samples)['duplicate deliveries absorbed by the inbox']).toBe(3);
    // The samples behind the counts say where: the 503, not the 200s or the 409s.
    expect(metricErrorSamples(samples)).toContainEqual(
      sample('meskit_http_server_request_duration_seconds_count', { status_code: '503' }, 4),
    );
    const where = metricErrorSamples(samples).map(
      (s) => s.labels['outcome'] ?? s.labels['status_code'],
    );
    expect(where.sort()).toEqual(['503', 'dead_lettered', 'nacked', 'timeout', 'upstream_error']);
  });

  it('counts nothing on a clean process', () => {
    const errors = metricErrors([sample('meskit_cache_events_total', { outcome: 'applied' }, 9)]);
    expect(Object.values(errors).every((n) => n === 0)).toBe(true);
  });
});

describe('scrape', () => {
  it('asks on a connection of its own, closed after the answer', async () => {
    let headers: IncomingHttpHeaders | undefined;
    const server = createServer((request, response) => {
      headers = request.headers;
      response.end('x_total{a="b"} 2\n');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const { port } = server.address() as AddressInfo;
      const samples = await scrape(`http://127.0.0.1:${port}/metrics`, 2_000);
      expect(samples).toEqual([{ name: 'x_total', labels: { a: 'b' }, value: 2 }]);
      expect(headers?.connection).toBe('close');
    } finally {
      server.close();
    }
  });

  it('rejects a non-200 answer', async () => {
    const server = createServer((_, response) => response.writeHead(503).end('down'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const { port } = server.address() as AddressInfo;
      await expect(scrape(`http://127.0.0.1:${port}/metrics`, 2_000)).rejects.toThrow(/503/);
    } finally {
      server.close();
    }
  });
});

describe('the bare MES probe', () => {
  it('serves the heap and the event-loop delay under the names prom-client uses', async () => {
    // A free port for the probe, then a child process that loads it and waits.
    const finder = createServer().listen(0, '127.0.0.1');
    await once(finder, 'listening');
    const { port } = finder.address() as AddressInfo;
    await new Promise((resolve) => finder.close(resolve));
    const child = spawn(
      process.execPath,
      ['--import', pathToFileURL(PROBE).href, '-e', 'process.stdin.resume()'],
      {
        env: { ...process.env, MESKIT_BENCH_PROBE_PORT: String(port) },
        stdio: ['pipe', 'ignore', 'pipe'],
      },
    );
    try {
      await once(child, 'spawn');
      // The probe listens right after the child starts: try again on each refusal, until then.
      let samples: MetricSample[] | undefined;
      const deadline = Date.now() + 10_000;
      while (!samples) {
        try {
          samples = await scrape(`http://127.0.0.1:${port}/metrics`, 2_000);
        } catch (error) {
          if (Date.now() > deadline || child.exitCode !== null) throw error;
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
      expect(metricValue(samples, HEAP_METRIC)).toBeGreaterThan(1e6);
      expect(metricValue(samples, HEAP_TOTAL_METRIC)).toBeGreaterThanOrEqual(
        metricValue(samples, HEAP_METRIC)!,
      );
      expect(metricValue(samples, EXTERNAL_METRIC)).toBeGreaterThan(0);
      expect(metricValue(samples, ELD_P99_METRIC)).toBeGreaterThanOrEqual(0);
    } finally {
      child.kill();
      await once(child, 'exit');
    }
  });

  it('refuses to start without a port', async () => {
    const child = spawn(process.execPath, ['--import', pathToFileURL(PROBE).href, '-e', ''], {
      env: { ...process.env, MESKIT_BENCH_PROBE_PORT: '' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(1);
    expect(stderr).toContain('MESKIT_BENCH_PROBE_PORT');
  });
});
