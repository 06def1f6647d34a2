// The pricing dashboard and rules, checked for data (see queries.integration.test.ts): two
// pricing sidecars (`meskit pricing serve` under @meskit/otel-bootstrap, as deployed) serve
// quotes, one with a working Redis cache and one whose Redis is unreachable, Prometheus scrapes
// both as one job, and every pricing query must return data for it, on Prometheus and on
// VictoriaMetrics.
// It needs otel-bootstrap and the CLI built (`npm test` builds first).
import type { ChildProcess } from 'node:child_process';
import { generateRingStl } from '@meskit/reference-mes';
import { attachServices } from '@meskit/services';
import { afterAll, describe, expect, it } from 'vitest';
import { collectQueries } from './queries.js';
import {
  evaluateUntilData,
  freePort,
  isPricingQuery,
  queryUntil,
  services,
  spawnPricingSidecar,
  stop,
  undocumentedFamilies,
} from './scraped.js';

describe('pricing dashboard and rule queries on scraped pricing sidecars', () => {
  const job = `dashboards-pricing-${process.pid}`;
  const prometheus = attachServices(services.MESKIT_SERVICES_DIR).prometheus;
  const sidecars: ChildProcess[] = [];

  afterAll(async () => {
    prometheus?.setScrapeJob({ job, targets: [] });
    await Promise.all(sidecars.map((child) => stop(child)));
  });

  it('return data for every query', { timeout: 120_000 }, async () => {
    expect(prometheus, 'the test run has no Prometheus').toBeDefined();
    expect(services.REDIS_URL, 'the test run has no Redis').toBeTruthy();
    // Two replicas of one deployment: one with its Redis cache working (hits), one whose Redis
    // is unreachable (cache errors; its quotes are still computed).
    const started = [
      spawnPricingSidecar(services.REDIS_URL ?? ''),
      spawnPricingSidecar(`redis://127.0.0.1:${await freePort()}`),
    ];
    sidecars.push(...started.map((s) => s.child));
    const urls = await Promise.all(started.map((s) => s.listening));
    prometheus?.setScrapeJob({ job, targets: urls.map((url) => new URL(url).host) });

    // A model no earlier run has cached (Redis outlives test runs), quoted twice on each
    // sidecar, and a body that is no model at all (a failed quote: the error series).
    const ring = generateRingStl({ triangles: 2_000, innerDiameterMm: 15 + Math.random() * 5 });
    for (const url of urls) {
      const quote = (body: Uint8Array) =>
        fetch(`${url}/v1/quotes`, {
          method: 'POST',
          body,
          headers: { 'content-type': 'application/octet-stream' },
        });
      const first = await quote(ring);
      expect(first.status).toBe(200);
      expect(((await first.json()) as { cached: boolean }).cached).toBe(false);
      const again = await quote(ring);
      expect(again.status).toBe(200);
      await again.arrayBuffer();
      const broken = await quote(new TextEncoder().encode('not a 3D model'));
      expect(broken.status).toBe(422);
      expect(((await broken.json()) as { error: { code: string } }).error.code).toBe(
        'UNKNOWN_FORMAT',
      );
    }

    await queryUntil(
      `count_over_time(meskit_pricing_jobs_total{job="${job}", outcome="ok"}[1m]) >= 2`,
    );
    const queries = collectQueries().filter(isPricingQuery);
    // The dashboard's variables and panels, and the five alerts.
    expect(queries.length).toBeGreaterThan(20);
    expect(queries.filter((query) => query.kind === 'alert')).toHaveLength(5);
    // Quotes keep coming: a model not seen before (computed), then the same again (a cache hit).
    const quotes = async () => {
      const model = generateRingStl({ triangles: 500, innerDiameterMm: 15 + Math.random() * 5 });
      for (let i = 0; i < 2; i++) {
        const response = await fetch(`${urls[0]}/v1/quotes`, {
          method: 'POST',
          body: model,
          headers: { 'content-type': 'application/octet-stream' },
        });
        await response.arrayBuffer();
      }
    };
    expect(await evaluateUntilData(queries, job, quotes)).toEqual([]);

    for (const url of urls) {
      expect(
        undocumentedFamilies(await (await fetch(`${url}/metrics`)).text()),
        `${url}/metrics exposes families not in docs/metrics.md with that type`,
      ).toEqual([]);
    }
  });
});
