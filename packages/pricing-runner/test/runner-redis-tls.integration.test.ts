// The runner's Redis cache over rediss:// with the run's CA (ssl_ca_certs): a quote cached
// over TLS is a hit for a second runner. With a CA of the test's own, quotes are still computed
// and a warning says the certificate was refused, naming the server.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTlsFiles } from '@meskit/services';
import { Registry } from 'prom-client';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { createPricingRunner, type PricingRunnerOptions } from '../dist/index.js';
import { binaryStl, uvSphere } from './meshes.js';

const sphere = binaryStl(uvSphere(5, 16, 24));
const dir = mkdtempSync(join(tmpdir(), 'meskit-pricing-tls-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function redisTlsUrl(): string {
  const url = inject('services').REDIS_TLS_URL;
  if (!url)
    throw new Error('the services run has no REDIS_TLS_URL (started without TLS): start a new run');
  return url;
}

const runners: { close(): Promise<void> }[] = [];
function runner(opts: PricingRunnerOptions & { offload?: undefined }) {
  const created = createPricingRunner({ threads: 1, registry: new Registry(), ...opts });
  runners.push(created);
  return created;
}
afterEach(async () => {
  await Promise.all(runners.splice(0).map((r) => r.close()));
});

describe('createPricingRunner with a Redis cache over TLS', () => {
  it('caches over rediss://: the second runner gets a hit', async () => {
    const keyPrefix = `meskit-test:${randomUUID()}:`;
    const first = runner({ cache: { redis: redisTlsUrl(), keyPrefix } });
    const second = runner({ cache: { redis: redisTlsUrl(), keyPrefix } });
    const computed = await first.quote(Buffer.from(sphere));
    const cached = await second.quote(Buffer.from(sphere));
    expect(computed.cached).toBe(false);
    expect(cached).toEqual({ ...computed, cached: true });
    expect(second.stats().cache).toMatchObject({ kind: 'redis', hits: 1, errors: 0 });
  });

  it('a CA Redis’s certificate is not signed by: quotes computed, a warning says why', async () => {
    const url = new URL(redisTlsUrl());
    url.searchParams.set('ssl_ca_certs', createTlsFiles({ dir, name: 'stranger' }).caFile);
    const warned = new Promise<Error>((resolve) => {
      const listener = (warning: Error): void => {
        if ((warning as Error & { code?: string }).code !== 'MESKIT_PRICING_CACHE_TLS') return;
        process.off('warning', listener);
        resolve(warning);
      };
      process.on('warning', listener);
    });
    const r = runner({ cache: { redis: url.toString(), redisTimeoutMs: 200 } });
    const quote = await r.quote(Buffer.from(sphere));
    expect(quote.cached).toBe(false);
    expect((await warned).message).toMatch(
      new RegExp(
        `pricing cache: Redis: TLS verification of 127\\.0\\.0\\.1:${url.port} failed: .*\\[SELF_SIGNED_CERT_IN_CHAIN\\]`,
      ),
    );
  });
});
