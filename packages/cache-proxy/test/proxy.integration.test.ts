// The proxy in front of the real reference MES, with each store: the list served from the
// index equals the MES's own answer, everything else passes through, a take through the proxy
// removes the order before its 2xx reaches the client, and a fill that read the MES before an
// invalidation never puts the order back.
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CACHE_PROXY_METRICS,
  createCacheProxy,
  type CacheProxy,
  type CacheProxyOptions,
} from '../dist/index.js';
import { TEST_HOOKS } from '../dist/internal/hooks.js';
import { get, ids, post, storeVariants, useMes, useRedis, type TestMes } from './helpers.js';

const LIST = '/api/orders?status=MANUFACTURING_APPROVED';
const ADMIN_TOKEN = `admin-${randomBytes(12).toString('hex')}`;

let mes: TestMes;
let redis: Redis;

useMes({ orders: 300 }, (started) => (mes = started));
useRedis((client) => (redis = client));

const stores = storeVariants(() => redis);

async function counted(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const metric = await registry.getSingleMetric(name)?.get();
  return (metric?.values ?? [])
    .filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))
    .reduce((sum, v) => sum + v.value, 0);
}

describe.each(stores)('createCacheProxy with the $name store', ({ options }) => {
  let proxy: CacheProxy;
  let registry: Registry;

  beforeAll(async () => {
    registry = new Registry();
    proxy = await createCacheProxy({
      upstream: mes.url,
      port: 0,
      adminPort: 0,
      adminToken: ADMIN_TOKEN,
      registry,
      ...options(),
    });
  });
  afterAll(async () => {
    await proxy?.close();
  });

  it('fills on a miss, then hits; the body is the MES’s answer for the same URL', async () => {
    for (const query of ['', '&page=2&pageSize=10', '&page=4&pageSize=25']) {
      const first = await get(proxy.url, `${LIST}${query}`);
      const second = await get(proxy.url, `${LIST}${query}`);
      const direct = await get(mes.url, `${LIST}${query}`);
      expect(first.status).toBe(200);
      expect(second.headers.get('cache-status')).toBe('meskit; hit');
      expect(second.text).toBe(direct.text);
      expect(first.text).toBe(direct.text);
      expect(second.headers.get('content-type')).toBe(direct.headers.get('content-type'));
    }
    expect(proxy.stats().requests.hit).toBeGreaterThanOrEqual(3);
    expect(await counted(registry, CACHE_PROXY_METRICS.requests, { result: 'hit' })).toBe(
      proxy.stats().requests.hit,
    );
    expect(await counted(registry, CACHE_PROXY_METRICS.indexOrders)).toBeGreaterThan(0);
  });

  it('passes other routes, other statuses, deep pages and bad parameters through unchanged', async () => {
    const paths = [
      '/api/orders?status=PRICE_CALCULATED&pageSize=5',
      '/api/orders?pageSize=5',
      `${LIST}&page=30&pageSize=100`, // beyond maxDepth
      `${LIST}&pageSize=101`, // the MES's 400
      '/api/orders?status=NOPE',
      '/api/operators',
      '/api/orders/1',
      '/no/such/route',
    ];
    for (const path of paths) {
      const via = await get(proxy.url, path);
      const direct = await get(mes.url, path);
      expect({ path, status: via.status, text: via.text }).toEqual({
        path,
        status: direct.status,
        text: direct.text,
      });
      expect(via.headers.get('content-type')).toBe(direct.headers.get('content-type'));
      expect(via.headers.get('cache-status')).toMatch(/^meskit; fwd=bypass/);
    }
    // Credentials are not served from the shared index unless sharedAuthorization says so.
    const withAuth = await get(proxy.url, LIST, { authorization: 'Bearer someone' });
    expect(withAuth.headers.get('cache-status')).toBe('meskit; fwd=bypass; detail=credentials');
    expect(withAuth.text).toBe((await get(mes.url, LIST)).text);
  });

  it('a take through the proxy: once its 2xx arrives, page 1 no longer lists the order and the total dropped by one', async () => {
    const before = await get(proxy.url, LIST);
    const victim = ids(before)[3]!;
    const taken = await post(proxy.url, `/api/orders/${victim}/take`, { operatorId: 1 });
    expect(taken.status).toBe(200);
    expect(taken.json['status']).toBe('MANUFACTURING_STARTED');
    const after = await get(proxy.url, LIST);
    expect(after.headers.get('cache-status')).toBe('meskit; hit');
    expect(ids(after)).not.toContain(victim);
    expect(after.json.total).toBe(before.json.total! - 1);
    expect(after.text).toBe((await get(mes.url, LIST)).text);

    // Another operator loses the race: 409 from the MES, nothing changes.
    const lost = await post(proxy.url, `/api/orders/${victim}/take`, { operatorId: 2 });
    expect(lost.status).toBe(409);
    expect(lost.json['error']).toMatchObject({ code: 'ORDER_ALREADY_TAKEN' });
    expect((await get(proxy.url, LIST)).text).toBe(after.text);
  });

  it('the admin endpoint: 401 without the token, 204 with it, and the order leaves the index', async () => {
    const before = await get(proxy.url, LIST);
    const victim = ids(before)[0]!;
    const path = `${proxy.adminUrl!}/invalidate/${victim}`;
    expect((await fetch(path, { method: 'POST' })).status).toBe(401);
    const wrong = await fetch(path, { method: 'POST', headers: { authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(ids(await get(proxy.url, LIST))).toContain(victim);
    const ok = await fetch(path, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(ok.status).toBe(204);
    // The admin removes the order from the index; it is still approved at the MES, so the list
    // shows what the operator asked for until the next fill.
    expect(ids(await get(proxy.url, LIST))).not.toContain(victim);
    expect(await counted(registry, CACHE_PROXY_METRICS.invalidations, { source: 'admin' })).toBe(1);
  });

  it('the admin endpoint: GET /stats and POST /rebuild (the next read fills afresh)', async () => {
    const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
    expect((await fetch(`${proxy.adminUrl!}/stats`)).status).toBe(401);
    await get(proxy.url, LIST);
    const stats = (await (await fetch(`${proxy.adminUrl!}/stats`, { headers: auth })).json()) as {
      fills: number;
      requests: { hit: number };
    };
    expect(stats.fills).toBeGreaterThan(0);
    expect((await fetch(`${proxy.adminUrl!}/rebuild`, { headers: auth })).status).toBe(405);
    expect(
      (await fetch(`${proxy.adminUrl!}/rebuild`, { method: 'POST', headers: auth })).status,
    ).toBe(204);
    const after = await get(proxy.url, LIST);
    expect(after.headers.get('cache-status')).toMatch(/fwd=(miss|stale); stored/);
    expect(proxy.stats().fills).toBe(stats.fills + 1);
  });
});

describe.each(stores)('no stale write-back ($name store)', ({ options }) => {
  it('a fill that read the MES before an invalidation does not put the order back', async () => {
    let proxy: CacheProxy | undefined;
    let release: () => void = () => undefined;
    let reached: () => void = () => undefined;
    const fillRead = new Promise<void>((resolve) => (reached = resolve));
    const held = new Promise<void>((resolve) => (release = resolve));
    let hold = true;
    try {
      proxy = await createCacheProxy({
        upstream: mes.url,
        port: 0,
        registry: new Registry(),
        ...options(),
        [TEST_HOOKS]: {
          afterFillRead: async () => {
            if (!hold) return;
            hold = false;
            reached();
            await held;
          },
        },
      } as CacheProxyOptions);
      const reading = get(proxy.url, LIST);
      await fillRead; // the fill has its snapshot of the MES and has not written it yet
      const snapshot = await get(mes.url, LIST);
      const victim = ids(snapshot)[1]!;
      // Taken through the proxy while the fill is held: its 2xx arrives before the fill writes.
      const taken = await post(proxy.url, `/api/orders/${victim}/take`, { operatorId: 4 });
      expect(taken.status).toBe(200);
      release();
      const first = await reading; // began before the take: may list it
      expect(first.status).toBe(200);
      const later = await get(proxy.url, LIST);
      expect(later.headers.get('cache-status')).toBe('meskit; hit');
      expect(ids(later)).not.toContain(victim);
      expect(later.text).toBe((await get(mes.url, LIST)).text);
    } finally {
      release();
      await proxy?.close();
    }
  });

  it('also for an invalidation through invalidate() of an order in the held snapshot', async () => {
    let release: () => void = () => undefined;
    let reached: () => void = () => undefined;
    const fillRead = new Promise<void>((resolve) => (reached = resolve));
    const held = new Promise<void>((resolve) => (release = resolve));
    let hold = true;
    const proxy = await createCacheProxy({
      upstream: mes.url,
      port: 0,
      registry: new Registry(),
      ...options(),
      [TEST_HOOKS]: {
        afterFillRead: async () => {
          if (!hold) return;
          hold = false;
          reached();
          await held;
        },
      },
    } as CacheProxyOptions);
    try {
      const reading = get(proxy.url, LIST);
      await fillRead;
      const victim = ids(await get(mes.url, LIST))[0]!;
      await proxy.invalidate(victim);
      release();
      await reading;
      const later = await get(proxy.url, LIST);
      expect(later.headers.get('cache-status')).toBe('meskit; hit');
      expect(ids(later)).not.toContain(victim);
      expect(later.json.total).toBe((await get(mes.url, LIST)).json.total! - 1);
    } finally {
      release();
      await proxy.close();
    }
  });
});
