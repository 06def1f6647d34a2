// Several proxy instances sharing one Redis: a take through one is seen by the others at once
// (the index and its version live in Redis; each instance's kept renderings are re-checked
// against that version on every read), and an admin invalidation on one too.
import { randomBytes } from 'node:crypto';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCacheProxy, type CacheProxy } from '../dist/index.js';
import { get, ids, post, serviceUrls, uniqueName, useMes, type TestMes } from './helpers.js';

const LIST = '/api/orders?status=MANUFACTURING_APPROVED';
const ADMIN_TOKEN = `admin-${randomBytes(12).toString('hex')}`;

let mes: TestMes;
const proxies: CacheProxy[] = [];

useMes({ orders: 200 }, (started) => (mes = started));

beforeAll(async () => {
  const keyPrefix = `${uniqueName('test')}:`;
  for (let i = 0; i < 3; i++) {
    proxies.push(
      await createCacheProxy({
        upstream: mes.url,
        port: 0,
        redis: serviceUrls().redisUrl,
        keyPrefix,
        adminToken: ADMIN_TOKEN,
        adminPort: 0,
        registry: new Registry(),
      }),
    );
  }
});

afterAll(async () => {
  await Promise.all(proxies.map((proxy) => proxy.close()));
});

describe('three proxies, one Redis', () => {
  it('a take through one instance leaves the list of every instance at once', async () => {
    const [a, b, c] = proxies as [CacheProxy, CacheProxy, CacheProxy];
    // Every instance has served (and kept) page 1.
    for (const proxy of proxies) {
      await get(proxy.url, LIST);
      expect((await get(proxy.url, LIST)).headers.get('cache-status')).toBe('meskit; hit');
    }
    const victim = ids(await get(a.url, LIST))[0]!;
    expect((await post(a.url, `/api/orders/${victim}/take`, { operatorId: 1 })).status).toBe(200);
    for (const proxy of [b, c, a]) {
      const page = await get(proxy.url, LIST);
      expect(ids(page)).not.toContain(victim);
      expect(page.text).toBe((await get(mes.url, LIST)).text);
    }
    // An admin invalidation on one instance, read through the others.
    const next = ids(await get(b.url, LIST))[0]!;
    const answer = await fetch(`${c.adminUrl!}/invalidate/${next}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(answer.status).toBe(204);
    expect(ids(await get(a.url, LIST))).not.toContain(next);
    expect(ids(await get(b.url, LIST))).not.toContain(next);
  });
});
