// The main promise under load, shared by the test on the run's one database and the
// one on a primary and a delayed replica read through db-router: readers hammer pages 1 and 2
// through the proxy while orders are taken through the proxy and directly at the MES (events)
// and new orders are approved (CRM events), with a short TTL so fills race the takes. No read
// that STARTED after a take through the proxy was acknowledged lists the taken order; once the
// events are consumed, the proxy's pages equal the MES's. With `chaos`, the same goes on for
// as long as the chaos step runs (a Redis failover, say), through one proxy or several.
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

export interface ScenarioOptions {
  /**
   * Runs beside the traffic, which goes on until it has resolved (and the planned reads and
   * takes are done). It sees how many takes were acknowledged so far.
   */
  chaos?: (progress: { acked: () => number }) => Promise<void>;
  /** Store failures are expected (chaos): they are not required to be 0. */
  storeFailures?: boolean;
}

export async function readsRacingTakes(
  mes: TestMes,
  proxyOrProxies: CacheProxy | readonly CacheProxy[],
  options: ScenarioOptions = {},
): Promise<void> {
  const proxies = Array.isArray(proxyOrProxies) ? proxyOrProxies : [proxyOrProxies as CacheProxy];
  const reads: Read[] = [];
  const acked = new Map<number, number>(); // order id -> when its take's 2xx arrived
  const directlyTaken = new Set<number>();
  let recent: number[] = ids(await get(mes.url, PAGES[0]!));
  let readsLeft = READS;
  let chaosRunning = options.chaos !== undefined;
  const errorsAtStart = proxies.map((proxy) => proxy.stats().redisErrors);

  async function reader(): Promise<void> {
    while (readsLeft-- > 0 || chaosRunning) {
      const path = pick(PAGES)!;
      const started = performance.now();
      const answer = await get(pick(proxies)!.url, path);
      expect(answer.status).toBe(200);
      const listed = ids(answer);
      reads.push({ started, ids: listed });
      if (listed.length > 0) recent = listed;
    }
  }

  async function taker(count: number, direct: boolean): Promise<void> {
    for (let i = 0; i < count || chaosRunning; i++) {
      const victim = pick(recent);
      if (victim !== undefined) {
        const operatorId = 1 + Math.floor(Math.random() * 5);
        const target = direct ? mes.url : pick(proxies)!.url;
        const answer = await post(target, `/api/orders/${victim}/take`, { operatorId });
        const now = performance.now();
        if (answer.status === 200) {
          if (direct) directlyTaken.add(victim);
          else acked.set(victim, now);
        } else {
          expect(answer.status).toBe(409);
        }
      }
      // Past the planned takes (chaos still running), at the pace approvals add orders.
      const pause = i < count ? 2 + Math.random() * 8 : 40 + Math.random() * 40;
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }

  async function approver(): Promise<void> {
    for (let i = 0; i < APPROVALS || chaosRunning; i++) {
      const [fresh] = await mes.insert([{ status: 'PRICE_CALCULATED', createdAt: new Date() }]);
      await mes.publish('order.manufacturing_approved', {
        orderId: fresh,
        occurredAt: new Date().toISOString(),
      });
      await new Promise((resolve) => setTimeout(resolve, 20 + Math.random() * 20));
    }
  }

  async function chaos(): Promise<void> {
    try {
      await options.chaos?.({ acked: () => acked.size });
    } finally {
      chaosRunning = false;
    }
  }

  await Promise.all([
    chaos(),
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
  expect(reads.length).toBeGreaterThanOrEqual(READS);
  // Enough takes won for the check to mean something. Through a failover fewer do: takes wait
  // for their removal, and orders taken at the MES stay listed (so are taken again, 409) until
  // their event can be applied; the chaos step requires takes to go on after it.
  expect(acked.size).toBeGreaterThan(options.chaos ? PROXY_TAKES / 8 : PROXY_TAKES / 4);
  expect(violations).toEqual([]);

  // Once the events are consumed, the proxy serves exactly what the MES lists.
  for (const path of PAGES) {
    for (const proxy of proxies)
      await waitFor(`the proxy's ${path} equals the MES's`, async () => {
        const [via, direct] = [await get(proxy.url, path), await get(mes.url, path)];
        return via.text === direct.text;
      });
  }
  for (const [i, proxy] of proxies.entries()) {
    const stats = proxy.stats();
    expect(stats.requests.hit).toBeGreaterThan(0);
    if (!options.storeFailures) expect(stats.redisErrors - errorsAtStart[i]!).toBe(0);
    for (const id of directlyTaken) {
      for (const path of PAGES) expect(ids(await get(proxy.url, path))).not.toContain(id);
    }
  }
  // The approvals' events were written through by the proxies consuming them.
  expect(proxies.reduce((sum, proxy) => sum + proxy.stats().writes, 0)).toBeGreaterThan(0);
}
