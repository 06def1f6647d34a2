// The main promise under load, shared by the test on the run's one database and the
// one on a primary and a delayed replica read through db-router: readers hammer pages 1 and 2
// through the proxy while orders are taken through the proxy and directly at the MES (events)
// and new orders are approved (CRM events), with a short TTL so fills race the takes. No read
// that STARTED after a take through the proxy was acknowledged lists the taken order; once the
// events are consumed, the proxy's pages equal the MES's.
import { performance } from 'node:perf_hooks';
import { expect } from 'vitest';
import type { CacheProxy } from '../dist/index.js';
import { get, ids, post, waitFor, type TestMes } from './helpers.js';

const READERS = 8;
const READS = 2500;
const PROXY_TAKES = 200;
const DIRECT_TAKES = 50;
const APPROVALS = 50;
const PAGES = [
  '/api/orders?status=MANUFACTURING_APPROVED&page=1&pageSize=20',
  '/api/orders?status=MANUFACTURING_APPROVED&page=2&pageSize=20',
];

interface Read {
  started: number;
  ids: number[];
}

function pick<T>(items: readonly T[]): T | undefined {
  return items[Math.floor(Math.random() * items.length)];
}

export async function readsRacingTakes(mes: TestMes, proxy: CacheProxy): Promise<void> {
  const reads: Read[] = [];
  const acked = new Map<number, number>(); // order id -> when its take's 2xx arrived
  const directlyTaken = new Set<number>();
  let recent: number[] = ids(await get(mes.url, PAGES[0]!));
  let readsLeft = READS;

  async function reader(): Promise<void> {
    while (readsLeft-- > 0) {
      const path = pick(PAGES)!;
      const started = performance.now();
      const answer = await get(proxy.url, path);
      expect(answer.status).toBe(200);
      const listed = ids(answer);
      reads.push({ started, ids: listed });
      if (listed.length > 0) recent = listed;
    }
  }

  async function taker(count: number, direct: boolean): Promise<void> {
    for (let i = 0; i < count; i++) {
      const victim = pick(recent);
      if (victim === undefined) continue;
      const operatorId = 1 + Math.floor(Math.random() * 5);
      const answer = await post(direct ? mes.url : proxy.url, `/api/orders/${victim}/take`, {
        operatorId,
      });
      const now = performance.now();
      if (answer.status === 200) {
        if (direct) directlyTaken.add(victim);
        else acked.set(victim, now);
      } else {
        expect(answer.status).toBe(409);
      }
      await new Promise((resolve) => setTimeout(resolve, 2 + Math.random() * 8));
    }
  }

  async function approver(): Promise<void> {
    for (let i = 0; i < APPROVALS; i++) {
      const [fresh] = await mes.insert([{ status: 'PRICE_CALCULATED', createdAt: new Date() }]);
      await mes.publish('order.manufacturing_approved', {
        orderId: fresh,
        occurredAt: new Date().toISOString(),
      });
      await new Promise((resolve) => setTimeout(resolve, 20 + Math.random() * 20));
    }
  }

  await Promise.all([
    ...Array.from({ length: READERS }, () => reader()),
    taker(PROXY_TAKES / 2, false),
    taker(PROXY_TAKES / 2, false),
    taker(DIRECT_TAKES, true),
    approver(),
  ]);

  const violations = reads.flatMap((read) =>
    read.ids
      .filter((id) => {
        const ack = acked.get(id);
        return ack !== undefined && read.started > ack;
      })
      .map((id) => ({ id, readStarted: read.started, acked: acked.get(id) })),
  );
  expect(reads.length).toBe(READS);
  expect(acked.size).toBeGreaterThan(PROXY_TAKES / 4);
  expect(violations).toEqual([]);

  // Once the events are consumed, the proxy serves exactly what the MES lists.
  for (const path of PAGES) {
    await waitFor(`the proxy's ${path} equals the MES's`, async () => {
      const [via, direct] = [await get(proxy.url, path), await get(mes.url, path)];
      return via.text === direct.text;
    });
  }
  const stats = proxy.stats();
  expect(stats.requests.hit).toBeGreaterThan(0);
  expect(stats.writes).toBeGreaterThan(0);
  expect(stats.redisErrors).toBe(0);
  for (const id of directlyTaken) {
    for (const path of PAGES) expect(ids(await get(proxy.url, path))).not.toContain(id);
  }
}
