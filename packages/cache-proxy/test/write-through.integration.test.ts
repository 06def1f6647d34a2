// Write-through from a proxied write: an order the MES creates in a cached status (a B2B
// upload, PRICE_CALCULATED) is on the proxy's first page as soon as the client has the 201.
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { generateRingStl } from '@meskit/reference-mes';
import { createCacheProxy } from '../dist/index.js';
import { get, ids, useMes, type TestMes } from './helpers.js';

const LIST = '/api/orders?status=PRICE_CALCULATED';

let mes: TestMes;
useMes({ orders: 100 }, (started) => (mes = started));

describe('write-through from the proxied write', () => {
  it('lists a B2B order created through the proxy once its 201 arrives', async () => {
    const proxy = await createCacheProxy({
      upstream: mes.url,
      port: 0,
      statuses: ['PRICE_CALCULATED'],
      registry: new Registry(),
    });
    try {
      await get(proxy.url, LIST); // fills the index
      const before = await get(proxy.url, LIST);
      expect(before.headers.get('cache-status')).toBe('meskit; hit');
      const created = await fetch(
        `${proxy.url}/api/b2b/orders?externalId=partner-42&filename=ring.stl`,
        { method: 'POST', body: generateRingStl({ triangles: 2_000 }) },
      );
      expect(created.status).toBe(201);
      const order = (await created.json()) as { id: number; status: string };
      expect(order.status).toBe('PRICE_CALCULATED');
      const after = await get(proxy.url, LIST);
      expect(after.headers.get('cache-status')).toBe('meskit; hit');
      expect(ids(after)[0]).toBe(order.id);
      expect(after.json.total).toBe((before.json.total ?? 0) + 1);
      expect(after.text).toBe((await get(mes.url, LIST)).text);
      expect(proxy.stats().writes).toBe(1);
    } finally {
      await proxy.close();
    }
  });
});
