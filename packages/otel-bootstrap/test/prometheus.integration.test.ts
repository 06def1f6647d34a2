// The /metrics exposition against the real Prometheus of the test run. Prometheus asks for
// OpenMetrics first, so a successful scrape proves the OpenMetrics rendering (exemplars,
// counter `_total` naming, `# EOF`) passes its strict parser, not only our own regexes.
import { attachServices } from '@meskit/services';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { spawnApp, uniqueName, type SpawnedApp } from './helpers.js';
import { startOtlpReceiver, type OtlpReceiver } from './peers/index.js';

interface Ready extends Record<string, unknown> {
  url: string;
  metricsUrl: string | null;
}

interface QueryResult {
  status: string;
  data?: { result?: { metric: Record<string, string>; value: [number, string] }[] };
}

describe('Prometheus scraping /metrics', () => {
  const services = inject('services');
  const prometheus = attachServices(services.MESKIT_SERVICES_DIR).prometheus;
  const job = uniqueName('otel-bootstrap');
  let app: SpawnedApp | undefined;
  let otlp: OtlpReceiver | undefined;

  afterAll(async () => {
    // An empty target list retires the job; the file stays for Prometheus to re-read.
    prometheus?.setScrapeJob({ job, targets: [] });
    app?.kill('SIGTERM');
    await app?.exited;
    await otlp?.close();
  });

  it('scrapes the OpenMetrics exposition with exemplars and stores the request histogram', async () => {
    expect(prometheus, 'the test run has no Prometheus').toBeDefined();
    // Tracing on, so the histogram carries exemplars for Prometheus to parse.
    otlp = await startOtlpReceiver();
    app = spawnApp({
      flag: '--import',
      app: 'app.mjs',
      env: {
        DATABASE_URL: services.DATABASE_URL ?? '',
        MESKIT_METRICS_PORT: '0',
        OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
      },
    });
    const ready = await app.waitForEvent<Ready>('listening');
    expect((await fetch(`${ready.url}/orders/21`)).status).toBe(200);
    const exposition = await (
      await fetch(ready.metricsUrl as string, {
        headers: { accept: 'application/openmetrics-text;version=1.0.0' },
      })
    ).text();
    expect(exposition).toMatch(/ # \{trace_id="[0-9a-f]{32}",span_id="[0-9a-f]{16}"\} /);
    const target = new URL(ready.metricsUrl as string).host;
    prometheus?.setScrapeJob({ job, targets: [target] });

    const count = await queryUntil(
      prometheus?.url ?? '',
      `meskit_http_server_request_duration_seconds_count{job="${job}",route="/orders/:id",status_code="200"}`,
    );
    expect(count.value[1]).toBe('1');
    const up = await queryUntil(prometheus?.url ?? '', `up{job="${job}"}`);
    expect(up.value[1]).toBe('1');
    const scraped = await queryUntil(prometheus?.url ?? '', `scrape_samples_scraped{job="${job}"}`);
    expect(Number(scraped.value[1])).toBeGreaterThan(50);
  });
});

/**
 * Polls an instant query until it returns a series. Prometheus scrapes on its own schedule
 * (every second here) and offers nothing to wait on, so this is the one place that polls.
 */
async function queryUntil(
  prometheusUrl: string,
  query: string,
  timeoutMs = 30_000,
): Promise<{ metric: Record<string, string>; value: [number, string] }> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const response = await fetch(
      `${prometheusUrl}/api/v1/query?query=${encodeURIComponent(query)}`,
    );
    const body = (await response.json()) as QueryResult;
    const series = body.data?.result?.[0];
    if (series) return series;
    last = JSON.stringify(body);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(
    `Prometheus returned no series for ${query} within ${timeoutMs} ms (last answer: ${last})`,
  );
}
