// The periodic reconcile: changes the proxy never heard of (an event lost, a write straight to
// the database) are corrected within the reconcile interval, long before the TTL.
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createCacheProxy } from '../dist/index.js';
import { get, ids, useMes, waitFor, type TestMes } from './helpers.js';

const LIST = '/api/orders?status=MANUFACTURING_APPROVED';

let mes: TestMes;

useMes({ orders: 200 }, (started) => (mes = started));

describe('reconcile', () => {
  it('corrects a missed removal and a missed addition within the interval', async () => {
    const proxy = await createCacheProxy({
      upstream: mes.url,
      port: 0,
      ttlMs: 600_000, // the TTL would take ten minutes
      reconcileIntervalMs: 200,
      registry: new Registry(),
    });
    try {
      const before = await get(proxy.url, LIST);
      const victim = ids(before)[0]!;
      // Behind the proxy's back, with no event: one order taken, one approved.
      await mes.query(
        `UPDATE orders SET status = 'MANUFACTURING_STARTED', operator_id = 1 WHERE id = $1`,
        [victim],
      );
      const [fresh] = await mes.insert([
        { status: 'MANUFACTURING_APPROVED', createdAt: new Date() },
      ]);
      expect(ids(await get(proxy.url, LIST))).toContain(victim); // still the stale index
      await waitFor('the reconcile corrected the list', async () => {
        const page = await get(proxy.url, LIST);
        return !ids(page).includes(victim) && ids(page)[0] === fresh;
      });
      expect((await get(proxy.url, LIST)).text).toBe((await get(mes.url, LIST)).text);
      expect(proxy.stats().reconciles).toBeGreaterThan(0);
    } finally {
      await proxy.close();
    }
  });

  it('refuses a negative reconcile interval, naming the option', () => {
    expect(() => createCacheProxy({ upstream: mes.url, port: 0, reconcileIntervalMs: -1 })).toThrow(
      /reconcileIntervalMs/,
    );
  });
});
