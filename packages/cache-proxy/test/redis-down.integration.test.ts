// Redis unreachable or gone mid-way (fault injection): every request still gets the MES's
// answer, marked as forwarded, the failures are counted and warned about once.
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { CACHE_PROXY_METRICS, createCacheProxy } from '../dist/index.js';
import {
  deadPort,
  get,
  ids,
  post,
  serviceUrls,
  startRelay,
  uniqueName,
  useMes,
  useWarnings,
  type TestMes,
} from './helpers.js';

const LIST = '/api/orders?status=MANUFACTURING_APPROVED';

let mes: TestMes;
const warnings = useWarnings('MESKIT_CACHE_REDIS_UNAVAILABLE');
useMes({ orders: 100 }, (started) => (mes = started));
const redisWarnings = (): Error[] => warnings;

describe('createCacheProxy with Redis down', () => {
  it('answers with the MES’s data, Cache-Status bypass, counts the errors and warns once', async () => {
    warnings.length = 0;
    const registry = new Registry();
    const proxy = await createCacheProxy({
      upstream: mes.url,
      port: 0,
      redis: `redis://127.0.0.1:${await deadPort()}`,
      redisTimeoutMs: 200,
      registry,
    });
    try {
      for (let i = 0; i < 3; i++) {
        const via = await get(proxy.url, LIST);
        expect(via.status).toBe(200);
        expect(via.text).toBe((await get(mes.url, LIST)).text);
        expect(via.headers.get('cache-status')).toBe('meskit; fwd=bypass; detail=redis-error');
      }
      const errors = await registry.getSingleMetric(CACHE_PROXY_METRICS.redisErrors)?.get();
      expect(errors?.values[0]?.value).toBe(proxy.stats().redisErrors);
      expect(proxy.stats().redisErrors).toBeGreaterThanOrEqual(3);
    } finally {
      await proxy.close();
      await proxy.close();
    }
    await new Promise((resolve) => setImmediate(resolve));
    expect(redisWarnings()).toHaveLength(1);
    expect(redisWarnings()[0]?.message).toMatch(/forwarded to the MES/);
  });

  it('Redis going away mid-way: hits turn into forwards, a take still answers and its removal is retried', async () => {
    const cutter = await startRelay(serviceUrls().redisUrl);
    const proxy = await createCacheProxy({
      upstream: mes.url,
      port: 0,
      redis: cutter.url,
      keyPrefix: `${uniqueName('test')}:`,
      redisTimeoutMs: 200,
      registry: new Registry(),
    });
    try {
      await get(proxy.url, LIST);
      expect((await get(proxy.url, LIST)).headers.get('cache-status')).toBe('meskit; hit');
      await cutter.close(); // Redis unreachable, as if it died
      const victim = ids(await get(mes.url, LIST))[0]!;
      const taken = await post(proxy.url, `/api/orders/${victim}/take`, { operatorId: 2 });
      expect(taken.status).toBe(200);
      const via = await get(proxy.url, LIST);
      expect(via.status).toBe(200);
      expect(via.headers.get('cache-status')).toMatch(/^meskit; fwd=bypass; detail=/);
      expect(ids(via)).not.toContain(victim);
      expect(via.text).toBe((await get(mes.url, LIST)).text);
      expect(proxy.stats().pendingInvalidations).toBe(1);
    } finally {
      await proxy.close();
    }
  });
});
