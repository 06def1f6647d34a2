// Write-through against a MES that answers late, on both stores.
//
// Racing a fill: a write-through's ticket is taken before its GET of the order,
// but the MES may answer that GET after a fill that started later has read the list: the GET
// waited in a connection pool, on a slow replica, behind a GC pause. The fill's snapshot then
// predates what the GET saw, and the order must still be listed, whichever of the two writes
// the store first. The MES state is set by hand between the steps, so each interleaving is
// forced, not hoped for.
//
// Giving up: a MES that never shows the announced status (or the order) within the budget is
// counted by reason and warned about once.
import amqp from 'amqplib';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CACHE_PROXY_METRICS, createCacheProxy, type CacheProxy } from '../dist/index.js';
import { TEST_HOOKS } from '../dist/internal/hooks.js';
import {
  consumerConnected,
  get,
  ids,
  serviceUrls,
  storeVariants,
  uniqueName,
  useMes,
  useRedis,
  useWarnings,
  waitFor,
  type TestMes,
} from './helpers.js';

const STATUS = 'MANUFACTURING_APPROVED';
const LIST = `/api/orders?status=${STATUS}&pageSize=20`;

let mes: TestMes;
let redis: Redis;
const gaveUpWarnings = useWarnings('MESKIT_CACHE_WRITE_THROUGH_GAVE_UP');
useMes({ orders: 60 }, (started) => (mes = started));
useRedis((client) => (redis = client));

// The proxies consume an exchange of the test's own: the MES does not consume it, so it
// applies the approval only when the test says so.
const exchange = uniqueName('test.write-through-race');
let connection: amqp.ChannelModel;
let channel: amqp.ConfirmChannel;
beforeAll(async () => {
  connection = await amqp.connect(serviceUrls().amqpUrl);
  channel = await connection.createConfirmChannel();
  await channel.assertExchange(exchange, 'topic', { durable: true });
});
afterAll(async () => {
  await connection?.close();
});

/** A promise and what settles it. */
function gate(): { opened: Promise<void>; open(): void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

/** The MES's own event: the order moved from PRICE_CALCULATED to the cached status. */
async function announceApproval(orderId: number): Promise<void> {
  const body = { orderId, status: STATUS, previousStatus: 'PRICE_CALCULATED' };
  channel.publish(exchange, 'order.manufacturing_approved', Buffer.from(JSON.stringify(body)), {
    contentType: 'application/json',
  });
  await channel.waitForConfirms();
}

async function approveAtTheMes(orderId: number): Promise<void> {
  await mes.query(`UPDATE orders SET status = $2 WHERE id = $1`, [orderId, STATUS]);
}

/** The proxy's cached page tops with `order`, and equals the MES's own. */
async function expectListedFirst(proxy: CacheProxy, order: number): Promise<void> {
  const page = await get(proxy.url, LIST);
  expect(page.headers.get('cache-status')).toBe('meskit; hit');
  expect(ids(page)[0]).toBe(order);
  expect(page.text).toBe((await get(mes.url, LIST)).text);
}

describe.each(storeVariants(() => redis))('write-through racing a fill ($name)', (variant) => {
  let proxy: CacheProxy | undefined;
  afterAll(async () => {
    await proxy?.close();
  });

  let registry: Registry;
  async function startProxy(hooks: {
    beforeWriteThroughRead?: (status: string, orderId: number) => Promise<void>;
    afterFillRead?: (status: string) => Promise<void>;
    writeThroughBudgetMs?: number;
  }): Promise<CacheProxy> {
    await proxy?.close();
    registry = new Registry();
    proxy = await createCacheProxy({
      upstream: mes.url,
      port: 0,
      statuses: [STATUS],
      registry,
      amqpUrl: serviceUrls().amqpUrl,
      exchange,
      queue: uniqueName('test.cache-proxy'),
      eventRetryDelayMs: 100,
      ...variant.options(),
      [TEST_HOOKS]: hooks,
    });
    await consumerConnected(proxy);
    return proxy;
  }

  it('lists the order when a fill written after the ticket read the MES before the GET', async () => {
    const [order] = await mes.insert([{ status: 'PRICE_CALCULATED', createdAt: new Date() }]);
    const held = gate();
    const reached = gate();
    const started = await startProxy({
      beforeWriteThroughRead: async (_status, orderId) => {
        if (orderId !== order) return;
        reached.open();
        await held.opened;
      },
    });
    await announceApproval(order!);
    await reached.opened; // the write-through holds its ticket, its GET not sent yet
    // A fill takes a later ticket, reads the list (the MES has not applied the approval) and
    // writes it.
    const first = await get(started.url, LIST);
    expect(ids(first)).not.toContain(order);
    expect((await get(started.url, LIST)).headers.get('cache-status')).toBe('meskit; hit');
    await approveAtTheMes(order!);
    const applied = started.stats().events.applied;
    held.open(); // the GET now sees the approval
    await waitFor('the event is applied', () => started.stats().events.applied > applied);
    await expectListedFirst(started, order!);
  });

  it('lists the order when a fill that read the MES before the GET writes after the add', async () => {
    const [order] = await mes.insert([{ status: 'PRICE_CALCULATED', createdAt: new Date() }]);
    const readHeld = gate();
    const readReached = gate();
    const fillHeld = gate();
    const fillReached = gate();
    const started = await startProxy({
      beforeWriteThroughRead: async (_status, orderId) => {
        if (orderId !== order) return;
        readReached.open();
        await readHeld.opened;
      },
      afterFillRead: async () => {
        fillReached.open();
        await fillHeld.opened;
      },
    });
    await announceApproval(order!);
    await readReached.opened;
    // The fill takes a later ticket and reads the list before the MES applies the approval,
    // then stops before writing.
    const first = get(started.url, LIST);
    await fillReached.opened;
    await approveAtTheMes(order!);
    const applied = started.stats().events.applied;
    readHeld.open(); // the GET sees the approval; the add finds no index yet
    await waitFor('the event is applied', () => started.stats().events.applied > applied);
    fillHeld.open(); // the fill writes its older snapshot
    expect((await first).status).toBe(200); // served after the write: with or without it
    await expectListedFirst(started, order!);
  });

  it('counts a write-through that gave up, by reason, and warns once', async () => {
    const [behind] = await mes.insert([{ status: 'PRICE_CALCULATED', createdAt: new Date() }]);
    const started = await startProxy({ writeThroughBudgetMs: 200 });
    const warned = gaveUpWarnings.length;
    const applied = started.stats().events.applied;
    await announceApproval(behind!); // the MES never applies it
    await announceApproval(2_000_000_000); // an order the MES does not have
    await waitFor('both events are applied', () => started.stats().events.applied >= applied + 2);
    const gaveUp = await registry.getSingleMetric(CACHE_PROXY_METRICS.writeThroughGaveUp)?.get();
    const count = (reason: string): number | undefined =>
      gaveUp?.values.find((v) => v.labels['source'] === 'event' && v.labels['reason'] === reason)
        ?.value;
    expect(count('behind')).toBe(1);
    expect(count('not_found')).toBe(1);
    expect(started.stats().writes).toBe(0);
    expect(ids(await get(started.url, LIST))).not.toContain(behind);
    await new Promise((resolve) => setImmediate(resolve));
    expect(gaveUpWarnings.length - warned).toBe(1); // two gave up, one warning
    expect(gaveUpWarnings.at(-1)?.message).toMatch(/write-through of order \d+ gave up/);
  });
});
