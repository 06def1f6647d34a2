// The runner's Redis cache against the real Redis of the test run, and with Redis down.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { deadPort, serviceUrls } from '@meskit/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createPricingRunner,
  DEFAULT_PRICE_MODEL,
  RUNNER_METRICS,
  type PricingRunnerOptions,
} from '../dist/index.js';
import { binaryStl, uvSphere } from './meshes.js';

const sphere = binaryStl(uvSphere(5, 16, 24));

const runners: { close(): Promise<void> }[] = [];
function runner(opts: PricingRunnerOptions & { offload?: undefined }) {
  const created = createPricingRunner({ threads: 1, registry: new Registry(), ...opts });
  runners.push(created);
  return created;
}
afterEach(async () => {
  await Promise.all(runners.splice(0).map((r) => r.close()));
});

describe('createPricingRunner with a Redis cache', () => {
  const REDIS_URL = serviceUrls().redisUrl;
  let clients: Redis[] = [];

  beforeAll(async () => {
    clients = [new Redis(REDIS_URL), new Redis(REDIS_URL)];
    await Promise.all(clients.map((c) => c.ping()));
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.quit()));
  });

  it('shares results between runners: the second gets a hit from the first’s entry', async () => {
    const [one, two] = clients as [Redis, Redis];
    const keyPrefix = `meskit-test:${randomUUID()}:`;
    const first = runner({ cache: { redis: one, keyPrefix, ttlMs: 60_000 } });
    const second = runner({ cache: { redis: two, keyPrefix, ttlMs: 60_000 } });
    const computed = await first.quote(Buffer.from(sphere));
    const cached = await second.quote(Buffer.from(sphere));
    expect(computed.cached).toBe(false);
    expect(cached).toEqual({ ...computed, cached: true });
    expect(second.stats()).toMatchObject({
      pool: { completed: 0 },
      cache: { kind: 'redis', hits: 1, misses: 0, errors: 0 },
    });
    // Stored as JSON under the key the quote reports, with the TTL.
    expect(computed.key.startsWith(keyPrefix)).toBe(true);
    const stored = JSON.parse((await one.get(computed.key)) ?? 'null') as unknown;
    expect(stored).toEqual({ analysis: computed.analysis, price: computed.price });
    const ttl = await one.pttl(computed.key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
    // Clients passed in are the caller's: close() leaves them open.
    await first.close();
    await second.close();
    expect(await one.ping()).toBe('PONG');
  });

  it('misses for another price model version on the same Redis', async () => {
    const keyPrefix = `meskit-test:${randomUUID()}:`;
    const current = runner({ cache: { redis: clients[0]!, keyPrefix } });
    const next = runner({
      cache: { redis: clients[1]!, keyPrefix },
      priceModel: { ...DEFAULT_PRICE_MODEL, version: 'next' },
    });
    await current.quote(Buffer.from(sphere));
    const quote = await next.quote(Buffer.from(sphere));
    expect(quote).toMatchObject({ cached: false, price: { modelVersion: 'next' } });
  });

  it('creates, uses and closes its own client from a URL', async () => {
    const keyPrefix = `meskit-test:${randomUUID()}:`;
    const r = runner({ cache: { redis: REDIS_URL, keyPrefix } });
    await r.quote(Buffer.from(sphere));
    expect((await r.quote(Buffer.from(sphere))).cached).toBe(true);
    await r.close();
    await r.close();
  });
});

describe('createPricingRunner with Redis down', () => {
  it('still quotes, counts the cache errors and warns once', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      const registry = new Registry();
      const r = createPricingRunner({
        threads: 1,
        registry,
        cache: { redis: `redis://127.0.0.1:${await deadPort()}`, redisTimeoutMs: 200 },
      });
      runners.push(r);
      const first = await r.quote(Buffer.from(sphere));
      const second = await r.quote(Buffer.from(sphere));
      expect(first.price?.total).toBeGreaterThan(0);
      expect(second).toEqual(first); // computed again: cached false both times
      expect(r.stats()).toMatchObject({ pool: { completed: 2 }, quotes: { failed: 0 } });
      expect(r.stats().cache.errors).toBeGreaterThanOrEqual(2);
      const metric = await registry.getSingleMetric(RUNNER_METRICS.cacheErrors)?.get();
      const counted = metric?.values.reduce((sum, v) => sum + v.value, 0) ?? 0;
      expect(counted).toBe(r.stats().cache.errors);
      await r.close();
      await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on next tick
      const ours = warnings.filter(
        (w) => (w as Error & { code?: string }).code === 'MESKIT_PRICING_CACHE_UNAVAILABLE',
      );
      expect(ours).toHaveLength(1);
      expect(ours[0]?.message).toMatch(/quotes are computed without the cache/);
    } finally {
      process.off('warning', onWarning);
    }
  });
});
