// The result cache on Redis with Sentinel and on a Redis Cluster, from their URLs. Through a
// Sentinel failover (the master SIGKILLed, the replica promoted) every quote is answered:
// computed while the cache is away, from the cache again once the new master serves it.
import { mkdtempSync, rmSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { startRedisCluster, startRedisSentinel } from '@meskit/services';
import { waitFor } from '@meskit/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { createPricingRunner, type PricingQuote, type PricingRunner } from '../dist/index.js';
import { binaryStl, uvSphere } from './meshes.js';

const dir = mkdtempSync(join(tmpdir(), 'meskit-pricing-ha-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Small spheres of different sizes: each a model of its own, so a cache key of its own. */
const models = Array.from({ length: 6 }, (_, i) => binaryStl(uvSphere(3 + i, 8, 12)));

function runnerOn(url: string): PricingRunner {
  return createPricingRunner({
    threads: 1,
    registry: new Registry(),
    cache: { redis: url, keyPrefix: `meskit-test:${randomUUID()}:` },
  });
}

describe('the pricing cache on Redis Sentinel', () => {
  it('keeps answering quotes through a failover, and hits again on the new master', async () => {
    const group = await startRedisSentinel({ dir: join(dir, 'sentinel') });
    const runner = runnerOn(group.url);
    try {
      for (const model of models) await runner.quote(Buffer.from(model));
      expect((await runner.quote(Buffer.from(models[0]!))).cached).toBe(true);

      const quotes: PricingQuote[] = [];
      const failures: unknown[] = [];
      let running = true;
      const quoting = (async () => {
        for (let i = 0; running; i++) {
          await runner.quote(Buffer.from(models[i % models.length]!)).then(
            (quote) => quotes.push(quote),
            (error: unknown) => failures.push(error),
          );
        }
      })();
      try {
        const before = quotes.length;
        await waitFor('quotes are answered', () => quotes.length >= before + 20);
        await group.killMaster();
        // A model written to the new master and read back from it: the cache works again.
        const fresh = binaryStl(uvSphere(11, 8, 12));
        await waitFor('a quote is answered from the cache on the new master', async () => {
          await runner.quote(Buffer.from(fresh));
          return (await runner.quote(Buffer.from(fresh))).cached;
        });
      } finally {
        running = false;
        await quoting;
      }
      expect(failures).toEqual([]);
      expect(quotes.every((quote) => (quote.price?.total ?? 0) > 0)).toBe(true);
      expect(quotes.some((quote) => !quote.cached)).toBe(true); // computed while it was away
      expect(runner.stats().cache).toMatchObject({ kind: 'redis' });
    } finally {
      await runner.close();
      await group.close();
    }
  });
});

describe('the pricing cache on a Redis Cluster', () => {
  it('shares results between runners across the masters', async () => {
    const cluster = await startRedisCluster({ dir: join(dir, 'cluster') });
    const keyPrefix = `meskit-test:${randomUUID()}:`;
    const options = { threads: 1, cache: { redis: cluster.url, keyPrefix } };
    const first = createPricingRunner({ ...options, registry: new Registry() });
    const second = createPricingRunner({ ...options, registry: new Registry() });
    try {
      const computed = await Promise.all(models.map((m) => first.quote(Buffer.from(m))));
      const cached = await Promise.all(models.map((m) => second.quote(Buffer.from(m))));
      expect(cached).toEqual(computed.map((quote) => ({ ...quote, cached: true })));
      expect(second.stats()).toMatchObject({
        pool: { completed: 0 },
        cache: { kind: 'redis', hits: models.length, errors: 0 },
      });
      // The keys are spread over more than one master.
      const owners = new Set(
        await Promise.all(
          computed.map(async (quote) => (await cluster.masterOfKey(quote.key)).port),
        ),
      );
      expect(owners.size).toBeGreaterThan(1);
    } finally {
      await first.close();
      await second.close();
      await cluster.close();
    }
  });
});
