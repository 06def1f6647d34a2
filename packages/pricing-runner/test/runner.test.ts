// The runner with its in-memory cache: hits, misses, bounds, coalescing, offload, metrics.
// Runs from the built package (dist), as users run it: `npm test` builds first.
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import {
  analyzeMesh,
  createPricingRunner,
  DEFAULT_PRICE_MODEL,
  MeshError,
  priceMesh,
  PricingPoolError,
  RUNNER_METRICS,
  type PricingRunner,
} from '../dist/index.js';
import { TEST_CLOCK } from '../dist/internal/cache.js';
import { TEST_DELAY_MS } from '../dist/internal/pool-protocol.js';
import { expectInvalidOption } from './invalid-option.js';
import { binaryStl, obj, torus, uvSphere } from './meshes.js';

const sphere = binaryStl(uvSphere(5, 16, 24));
const ring = obj(torus(10, 1.5, 32, 16));
const small = binaryStl(uvSphere(3, 8, 12));
const FIXTURE = new URL('./fixtures/offload.mjs', import.meta.url);

const runners: { close(): Promise<void> }[] = [];
function track<T extends { close(): Promise<void> }>(runner: T): T {
  runners.push(runner);
  return runner;
}
afterEach(async () => {
  await Promise.all(runners.splice(0).map((r) => r.close()));
});

/** A runner on a fresh registry (each test sees only its own metrics). */
function runner(opts: Parameters<typeof createPricingRunner>[0] = {}): {
  r: PricingRunner;
  registry: Registry;
} {
  const registry = new Registry();
  return { r: track(createPricingRunner({ threads: 1, registry, ...opts })), registry };
}

async function value(registry: Registry, name: string, labels: Record<string, string> = {}) {
  const metric = registry.getSingleMetric(name);
  if (!metric) return undefined;
  const { values } = await metric.get();
  const match = values.find((v) =>
    Object.entries(labels).every(([k, l]) => (v.labels as Record<string, unknown>)[k] === l),
  );
  return match?.value ?? 0;
}

function inProcess(bytes: Uint8Array, alloy?: string) {
  const analysis = analyzeMesh(bytes);
  const price = analysis.confidence.volumeTrusted
    ? priceMesh(analysis, alloy === undefined ? {} : { alloy })
    : null;
  return { analysis, price };
}

describe('createPricingRunner: the cache', () => {
  it('answers a repeated quote from the cache, equal to the first, without a worker job', async () => {
    const { r, registry } = runner();
    const first = await r.quote(Buffer.from(sphere));
    const second = await r.quote(Buffer.from(sphere));
    expect(first).toMatchObject({ ...inProcess(sphere), cached: false });
    expect(second).toEqual({ ...first, cached: true });
    expect(second.key).toMatch(/^meskit:pricing:[0-9a-f]{64}:[0-9a-f]{32}$/);
    expect(r.stats()).toMatchObject({
      pool: { completed: 1 },
      quotes: { computed: 1, cached: 1, coalesced: 0, failed: 0 },
      cache: { kind: 'memory', hits: 1, misses: 1, entries: 1 },
    });
    expect(await value(registry, RUNNER_METRICS.jobs, { outcome: 'ok' })).toBe(1);
    expect(await value(registry, RUNNER_METRICS.cacheRequests, { result: 'hit' })).toBe(1);
    expect(await value(registry, RUNNER_METRICS.cacheRequests, { result: 'miss' })).toBe(1);
  });

  it('misses for another alloy, and keys the default alloy like naming it', async () => {
    const { r } = runner();
    const gold = await r.quote(Buffer.from(sphere));
    const named = await r.quote(Buffer.from(sphere), { alloy: DEFAULT_PRICE_MODEL.defaultAlloy });
    const silver = await r.quote(Buffer.from(sphere), { alloy: 'silver-925' });
    expect(named).toMatchObject({ cached: true, key: gold.key });
    expect(silver).toMatchObject({ cached: false, price: inProcess(sphere, 'silver-925').price });
    expect(silver.key).not.toBe(gold.key);
    expect(r.stats().pool.completed).toBe(2);
  });

  it('keys on the price model: another version (or content) gives another key', async () => {
    const a = runner().r;
    const b = runner().r;
    const c = runner({ priceModel: { ...DEFAULT_PRICE_MODEL, version: 'shop-2' } }).r;
    const d = runner({ priceModel: { ...DEFAULT_PRICE_MODEL, minimumPrice: 1 } }).r;
    const e = runner({ analyze: { topology: false } }).r;
    const keys = await Promise.all(
      [a, b, c, d, e].map(async (x) => (await x.quote(Buffer.from(small))).key),
    );
    expect(keys[1]).toBe(keys[0]); // same configuration, same key: runners can share a cache
    expect(new Set(keys).size).toBe(4);
  });

  it('expires entries after ttlMs', async () => {
    let now = 1_000_000;
    const { r } = runner({ cache: { ttlMs: 60_000, [TEST_CLOCK]: () => now } });
    await r.quote(Buffer.from(sphere));
    now += 59_999;
    expect((await r.quote(Buffer.from(sphere))).cached).toBe(true);
    now += 60_000; // the hit does not extend the TTL: 60 s after it was stored, it is gone
    expect((await r.quote(Buffer.from(sphere))).cached).toBe(false);
    expect(r.stats()).toMatchObject({ pool: { completed: 2 }, cache: { expired: 1 } });
  });

  it('keeps at most maxEntries, evicting the least recently used', async () => {
    const { r } = runner({ cache: { maxEntries: 2 } });
    await r.quote(Buffer.from(sphere)); // A
    await r.quote(Buffer.from(ring)); // B
    expect((await r.quote(Buffer.from(sphere))).cached).toBe(true); // A used: B is now oldest
    await r.quote(Buffer.from(small)); // C evicts B
    expect(r.stats().cache).toMatchObject({ entries: 2, evicted: 1 });
    expect((await r.quote(Buffer.from(sphere))).cached).toBe(true);
    expect((await r.quote(Buffer.from(ring))).cached).toBe(false);
  });

  it('does not cache a result larger than maxBytes, and counts it', async () => {
    const { r } = runner({ cache: { maxBytes: 100 } });
    await r.quote(Buffer.from(sphere));
    expect((await r.quote(Buffer.from(sphere))).cached).toBe(false);
    expect(r.stats().cache).toMatchObject({ entries: 0, bytes: 0, tooLarge: 2 });
  });

  it('does not cache errors', async () => {
    const { r, registry } = runner();
    const truncated = sphere.subarray(0, sphere.length - 7);
    for (let i = 0; i < 2; i++) {
      const error = await r.quote(truncated).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MeshError);
      expect((error as MeshError).code).toBe('TRUNCATED');
    }
    expect(r.stats()).toMatchObject({ pool: { failed: 2 }, quotes: { failed: 2 } });
    expect(await value(registry, RUNNER_METRICS.errors, { code: 'TRUNCATED' })).toBe(2);
    expect(await value(registry, RUNNER_METRICS.jobs, { outcome: 'failed' })).toBe(2);
  });

  it('with cache: false computes every quote', async () => {
    const { r } = runner({ cache: false });
    await r.quote(Buffer.from(sphere));
    expect((await r.quote(Buffer.from(sphere))).cached).toBe(false);
    expect(r.stats()).toMatchObject({ pool: { completed: 2 }, cache: { kind: 'off' } });
  });

  it('refuses input over analyze.maxBytes before hashing, and bad cache options at construction', async () => {
    const { r } = runner({ analyze: { maxBytes: 1000 } });
    expect(await r.quote(Buffer.from(sphere)).catch((e: unknown) => e)).toMatchObject({
      code: 'TOO_LARGE',
    });
    const component = 'createPricingRunner';
    expectInvalidOption(
      () => createPricingRunner({ cache: { maxEntries: 0 } }),
      component,
      'cache.maxEntries',
    );
    const badUrl = expectInvalidOption(
      () => createPricingRunner({ cache: { redis: 'http://user:secret@x' } }),
      component,
      'cache.redis',
      /must be a valid Redis URL: .* is not a Redis URL/,
    );
    expect(badUrl.message).not.toContain('secret');
    expectInvalidOption(
      () => createPricingRunner({ cache: { ttlMs: 1.5 } }),
      component,
      'cache.ttlMs',
    );
    expectInvalidOption(() => createPricingRunner({ cache: 'redis' as never }), component, 'cache');
    expectInvalidOption(
      () => createPricingRunner({ registry: {} as never }),
      component,
      'registry',
    );
    // The pool's options are checked as the runner's own: the error names what the caller called.
    expectInvalidOption(() => createPricingRunner({ threads: 0 }), component, 'threads');
    expectInvalidOption(
      () => createPricingRunner({ analyze: { maxTriangles: 0 } }),
      component,
      'analyze.maxTriangles',
    );
  });
});

describe('createPricingRunner: coalescing, cancellation, close', () => {
  it('runs one computation for identical concurrent quotes', async () => {
    const { r, registry } = runner();
    const results = await Promise.all([1, 2, 3].map(() => r.quote(Buffer.from(sphere))));
    expect(results[1]).toEqual(results[0]);
    expect(results[2]).toEqual(results[0]);
    expect(results.every((q) => !q.cached)).toBe(true);
    expect(results[1]?.analysis).not.toBe(results[0]?.analysis); // each caller its own copy
    expect(r.stats()).toMatchObject({
      pool: { completed: 1 },
      quotes: { computed: 1, coalesced: 2 },
    });
    expect(await value(registry, RUNNER_METRICS.cacheRequests, { result: 'coalesced' })).toBe(2);
  });

  it('cancels one waiter without cancelling the computation others wait for', async () => {
    const { r } = runner();
    const leaving = new AbortController();
    // The first quote leads (its slow job is the shared one); the second joins it.
    const staying = r.quote(Buffer.from(sphere), { [TEST_DELAY_MS]: 2000 });
    const cancelled = r.quote(Buffer.from(sphere), { signal: leaving.signal });
    await new Promise((resolve) => setImmediate(resolve)); // both joined, the job running
    expect(r.stats()).toMatchObject({ inFlight: 1, pool: { busy: 1 } });
    leaving.abort();
    expect(await cancelled.catch((e: unknown) => e)).toMatchObject({
      code: 'CANCELLED',
      name: 'AbortError',
    });
    expect(await staying).toMatchObject({ ...inProcess(sphere), cached: false });
    expect(r.stats().pool).toMatchObject({ completed: 1, failed: 0 });
  });

  it('a computation every waiter abandoned is cancelled, and the next quote starts afresh', async () => {
    const { r } = runner();
    const controller = new AbortController();
    const slow = r.quote(Buffer.from(sphere), {
      signal: controller.signal,
      [TEST_DELAY_MS]: 10 * 60_000, // blocks the worker until it is terminated
    });
    setImmediate(() => controller.abort());
    expect(await slow.catch((e: unknown) => e)).toMatchObject({ code: 'CANCELLED' });
    expect(await r.quote(Buffer.from(sphere))).toMatchObject({ cached: false });
  });

  it('close() is safe twice; quotes after it reject CLOSED', async () => {
    const { r } = runner();
    await r.quote(Buffer.from(small));
    await Promise.all([r.close(), r.close()]);
    await r.close();
    const error = await r.quote(Buffer.from(small)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PricingPoolError);
    expect((error as PricingPoolError).code).toBe('CLOSED');
  });
});

describe('createPricingRunner: offload mode', () => {
  it('caches the offloaded function’s result like a quote', async () => {
    const registry = new Registry();
    const r = track(
      createPricingRunner<{ length: number; options: Record<string, unknown> }>({
        threads: 1,
        registry,
        offload: { module: FIXTURE, export: 'measure', options: { work: 1 } },
      }),
    );
    const first = await r.quote(Buffer.from(sphere), { alloy: 'gold-585' });
    const second = await r.quote(Buffer.from(sphere), { alloy: 'gold-585' });
    expect(first.result).toMatchObject({
      length: sphere.length,
      options: { work: 1, alloy: 'gold-585' },
    });
    expect(second).toEqual({ ...first, cached: true });
    expect((await r.quote(Buffer.from(sphere))).cached).toBe(false); // no alloy: another key
    expect(r.stats().pool.completed).toBe(2);
    expect(await registry.metrics()).toMatch(
      /meskit_pricing_job_duration_seconds_count\{format="stl-binary"\} 2/,
    );
  });

  it('reports a throwing function as OFFLOAD_FAILED and a hanging one as TIMEOUT', async () => {
    const registry = new Registry();
    const refusing = track(
      createPricingRunner({ threads: 1, registry, offload: { module: FIXTURE, export: 'refuse' } }),
    );
    const hanging = track(
      createPricingRunner({
        threads: 1,
        registry,
        timeoutMs: 200,
        offload: { module: FIXTURE, export: 'hang' },
      }),
    );
    const failed = await refusing.quote(Buffer.from(sphere)).catch((e: unknown) => e);
    expect(failed).toMatchObject({
      code: 'OFFLOAD_FAILED',
      message: expect.stringMatching(/cannot read this model/),
      cause: { code: 'INVALID_MODEL' },
    });
    expect(await hanging.quote(Buffer.from(sphere)).catch((e: unknown) => e)).toMatchObject({
      code: 'TIMEOUT',
    });
    // Both runners share the registry: one set of metrics, counting both.
    expect(await value(registry, RUNNER_METRICS.errors, { code: 'OFFLOAD_FAILED' })).toBe(1);
    expect(await value(registry, RUNNER_METRICS.errors, { code: 'TIMEOUT' })).toBe(1);
  });
});

describe('createPricingRunner: metrics', () => {
  it('registers every metric in the registry passed in, once even for two runners', async () => {
    const registry = new Registry();
    const a = track(createPricingRunner({ threads: 1, registry }));
    const b = track(createPricingRunner({ threads: 1, registry }));
    await a.quote(Buffer.from(sphere));
    await b.quote(Buffer.from(sphere));
    await a.quote(new Uint8Array(0)).catch(() => undefined);
    const text = await registry.metrics();
    for (const name of Object.values(RUNNER_METRICS)) expect(text).toContain(`# TYPE ${name} `);
    expect(await value(registry, RUNNER_METRICS.jobs, { outcome: 'ok' })).toBe(2);
    expect(await value(registry, RUNNER_METRICS.errors, { code: 'EMPTY' })).toBe(1);
    expect(await value(registry, RUNNER_METRICS.queueDepth)).toBe(0);
    expect(text).toMatch(/meskit_pricing_job_duration_seconds_count\{format="stl-binary"\} 2/);
  });

  it('counts the jobs waiting for a worker in the queue depth gauge', async () => {
    const { r, registry } = runner();
    const running = new AbortController();
    const waiting = new AbortController();
    const slow = { [TEST_DELAY_MS]: 10 * 60_000 };
    const first = r.quote(Buffer.from(sphere), { ...slow, signal: running.signal });
    const second = r.quote(Buffer.from(ring), { signal: waiting.signal });
    await new Promise((resolve) => setImmediate(resolve)); // both past hashing and the cache
    expect(await value(registry, RUNNER_METRICS.queueDepth)).toBe(1);
    waiting.abort();
    running.abort();
    await Promise.allSettled([first, second]);
    expect(await value(registry, RUNNER_METRICS.queueDepth)).toBe(0);
  });
});
