// Metrics in-process: the shared registry, the HTTP histogram measured from Node's http
// diagnostics channels (a real node:http server, no wrapping), the OpenMetrics rendering and
// the /metrics server.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Histogram, Registry, type Metric } from 'prom-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { getRegistry, METRICS_REGISTRY_KEY, createRouteNormalizer } from '../src/index.js';
import { setRequestSpanContext } from '../src/internal/http-request-state.js';
import {
  HTTP_DURATION_METRIC,
  renderOpenMetrics,
  startHttpServerMetrics,
} from '../src/internal/metrics.js';
import { startMetricsServer } from '../src/internal/metrics-server.js';
import { RequestHistogram } from '../src/internal/request-histogram.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('getRegistry', () => {
  it('is one registry per process, shared by every copy of the package', async () => {
    // A fresh module graph evaluates registry.ts again: a second copy of the package.
    vi.resetModules();
    const copy = await import('../src/registry.js');
    expect(copy.getRegistry).not.toBe(getRegistry);
    expect(copy.getRegistry()).toBe(getRegistry());
    expect((globalThis as Record<symbol, unknown>)[METRICS_REGISTRY_KEY]).toBe(getRegistry());
  });
});

describe('meskit_http_server_request_duration_seconds', () => {
  async function serve(
    registry: Registry,
  ): Promise<{ url: string; finished: () => Promise<void> }> {
    const stop = startHttpServerMetrics({
      registry,
      buckets: [0.01, 0.1, 1],
      routeLabel: createRouteNormalizer({ maxRoutes: 10 }),
    });
    cleanups.push(stop);
    let pending: Promise<unknown> = Promise.resolve();
    const server = createServer((request, response) => {
      // Node's own 'finish' listener (which publishes the diagnostics message) was added
      // before this handler ran, so once ours fires the observation is recorded.
      pending = once(response, 'finish');
      response.writeHead(request.url?.startsWith('/orders/') ? 200 : 404).end();
    });
    await listen(server);
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      finished: async () => void (await pending),
    };
  }

  it('counts requests by method, route template and status from the diagnostics channels', async () => {
    const registry = new Registry();
    const app = await serve(registry);
    for (const path of ['/orders/1', '/orders/2', '/nope/3']) {
      await (await fetch(`${app.url}${path}`)).arrayBuffer();
      await app.finished();
    }
    const text = await registry.metrics();
    expect(text).toContain(
      `${HTTP_DURATION_METRIC}_count{method="GET",route="/orders/:id",status_code="200"} 2`,
    );
    expect(text).toContain(
      `${HTTP_DURATION_METRIC}_count{method="GET",route="other",status_code="404"} 1`,
    );
    expect(text).toContain(
      `${HTTP_DURATION_METRIC}_bucket{le="+Inf",method="GET",route="/orders/:id",status_code="200"} 2`,
    );
  });

  it('unsubscribes: with metrics stopped nothing is recorded', async () => {
    const registry = new Registry();
    const app = await serve(registry);
    const stop = cleanups.shift() as () => void;
    stop();
    await (await fetch(`${app.url}/orders/1`)).arrayBuffer();
    await app.finished();
    expect(await registry.metrics()).not.toContain(`${HTTP_DURATION_METRIC}_count`);
  });

  it('keeps the trace id of a sampled request as an exemplar, shown in OpenMetrics only', async () => {
    const registry = new Registry();
    const app = await serve(registry);
    // Stand in for the tracing hook, which leaves the server span's context on the request.
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const leaveSpanContext = (message: unknown): void => {
      const { request } = message as { request: IncomingMessage };
      setRequestSpanContext(request, { traceId, spanId: 'b7ad6b7169203331', traceFlags: 1 });
    };
    subscribe('http.server.request.start', leaveSpanContext);
    cleanups.push(() => unsubscribe('http.server.request.start', leaveSpanContext));
    await (await fetch(`${app.url}/orders/1`)).arrayBuffer();
    await app.finished();

    const openMetrics = await renderOpenMetrics(registry);
    expect(openMetrics).toMatch(
      new RegExp(
        `^${HTTP_DURATION_METRIC}_bucket\\{le="0.01",method="GET",route="/orders/:id",status_code="200"\\} 1 # \\{trace_id="${traceId}",span_id="b7ad6b7169203331"\\} [\\d.e-]+ [\\d.]+$`,
        'm',
      ),
    );
    expect(await registry.metrics()).not.toContain(traceId);
  });
});

describe('RequestHistogram', () => {
  const histogram = () =>
    new RequestHistogram({
      name: 'h',
      help: 'h',
      buckets: [0.01, 0.1, 1],
      exemplarIntervalMs: 1000,
    });

  it('lets one exemplar per series and bucket through per interval', () => {
    const h = histogram();
    const series = h.series('GET', '/orders/:id', 200);
    const offer = (value: number, now: number, s = series) =>
      h.offerExemplar(s, h.observe(s, value), value, now, 'a'.repeat(32), 'b'.repeat(16));
    expect(offer(0.005, 0)).toBe(true);
    // Same series and bucket within the second: no exemplar.
    expect(offer(0.009, 500)).toBe(false);
    // Another bucket (and +Inf) or another series: each has its own slot.
    expect(offer(0.05, 500)).toBe(true);
    expect(offer(5, 500)).toBe(true);
    expect(offer(0.005, 500, h.series('GET', '/orders/:id', 500))).toBe(true);
    // A bucket's upper bound belongs to it (prom-client's le).
    expect(offer(0.01, 999)).toBe(false);
    // The interval over: due again.
    expect(offer(0.01, 1000)).toBe(true);
  });

  it('keeps one series per label set and renders as prom-client renders a Histogram', async () => {
    const ours = histogram();
    const registry = new Registry();
    registry.registerMetric(ours as unknown as Metric);
    const theirs = new Histogram({
      name: 'h',
      help: 'h',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.01, 0.1, 1],
      registers: [],
    });
    const reference = new Registry();
    reference.registerMetric(theirs);
    const observations: [string, string, number, number][] = [
      ['GET', '/orders/:id', 200, 0.004],
      ['GET', '/orders/:id', 200, 0.05],
      ['GET', '/orders/:id', 200, 0.01],
      ['POST', '/orders/:id/take', 409, 2.5],
      ['GET', 'other', 404, 0.2],
    ];
    for (const [method, route, status, value] of observations) {
      ours.observe(ours.series(method, route, status), value);
      theirs.observe({ method, route, status_code: String(status) }, value);
    }
    expect(ours.series('GET', '/orders/:id', 200)).toBe(ours.series('GET', '/orders/:id', 200));
    expect(await registry.metrics()).toBe(await reference.metrics());
    expect(await ours.get()).toEqual(await theirs.get());
    registry.resetMetrics();
    expect(await registry.metrics()).not.toContain('h_count');
  });
});

describe('renderOpenMetrics', () => {
  it('renders counters the OpenMetrics way without renaming them in the shared registry', async () => {
    // Regression: prom-client's own OpenMetrics output strips `_total` from the registry's
    // counters for good, which would break every later Prometheus-format scrape.
    const registry = new Registry();
    new Counter({
      name: 'meskit_test_orders_taken_total',
      help: 'Orders "taken".',
      registers: [registry],
    }).inc(3);
    const openMetrics = await renderOpenMetrics(registry);
    expect(openMetrics).toBe(
      [
        '# HELP meskit_test_orders_taken Orders \\"taken\\".',
        '# TYPE meskit_test_orders_taken counter',
        'meskit_test_orders_taken_total 3',
        '# EOF',
        '',
      ].join('\n'),
    );
    expect(await registry.metrics()).toContain(
      '# TYPE meskit_test_orders_taken_total counter\nmeskit_test_orders_taken_total 3',
    );
  });
});

describe('the /metrics server', () => {
  async function started(registry = new Registry(), port = 0) {
    const server = startMetricsServer(registry, '127.0.0.1', port);
    cleanups.push(() => server.close());
    return { server, url: await server.url };
  }

  it('serves the Prometheus text format, or OpenMetrics when asked', async () => {
    const registry = new Registry();
    new Counter({ name: 'meskit_test_scrapes_total', help: 'h', registers: [registry] }).inc();
    const { url } = await started(registry);
    const text = await fetch(url as string);
    expect(text.headers.get('content-type')).toBe(Registry.PROMETHEUS_CONTENT_TYPE);
    expect(await text.text()).toContain('meskit_test_scrapes_total 1');
    const open = await fetch(url as string, {
      headers: { accept: 'application/openmetrics-text; version=1.0.0' },
    });
    expect(open.headers.get('content-type')).toBe(Registry.OPENMETRICS_CONTENT_TYPE);
    expect(await open.text()).toMatch(/# EOF\n$/);
  });

  it('answers 404 off /metrics and 405 to other methods', async () => {
    const { url } = await started();
    const base = new URL(url as string);
    expect((await fetch(new URL('/', base))).status).toBe(404);
    expect((await fetch(url as string, { method: 'POST' })).status).toBe(405);
    expect((await fetch(url as string, { method: 'HEAD' })).status).toBe(200);
  });

  it('warns once when its port is taken and reports no URL; close() is safe twice', async () => {
    const { url } = await started();
    const port = Number(new URL(url as string).port);
    const warnings: NodeJS.ErrnoException[] = [];
    const onWarning = (warning: Error): void =>
      void warnings.push(warning as NodeJS.ErrnoException);
    process.on('warning', onWarning);
    cleanups.push(() => process.off('warning', onWarning));

    const warned = once(process, 'warning');
    const second = startMetricsServer(new Registry(), '127.0.0.1', port);
    expect(await second.url).toBeUndefined();
    await warned;
    expect(warnings.map((w) => w.code)).toEqual(['MESKIT_OTEL_METRICS_PORT_IN_USE']);
    expect(warnings[0]?.message).toContain(
      `cannot serve /metrics on 127.0.0.1:${port}: the port is in use`,
    );
    const closing = second.close();
    expect(second.close()).toBe(closing);
    await closing;
  });
});

async function listen(server: Server): Promise<void> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
}
