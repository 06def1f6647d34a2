// The order events on the real RabbitMQ: a take made directly at the MES (the MES publishes
// order.manufacturing_started) and a bare event both remove the order from the index; an order
// the CRM approves appears on page 1 once its event is consumed; a poison message goes to the
// dead-letter queue, counted and warned about once, and the consumer keeps going.
import amqp from 'amqplib';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CACHE_PROXY_METRICS, createCacheProxy, type CacheProxy } from '../dist/index.js';
import {
  consumerConnected,
  eventOptions,
  get,
  ids,
  post,
  serviceUrls,
  useMes,
  useRedis,
  useWarnings,
  waitFor,
  type TestMes,
} from './helpers.js';

const LIST = '/api/orders?status=MANUFACTURING_APPROVED&pageSize=20';

let mes: TestMes;
let redis: Redis;
let proxy: CacheProxy;
let registry: Registry;
let queue: string;
const poisonWarnings = useWarnings('MESKIT_CACHE_POISON_EVENT');
useMes({ orders: 200, amqp: true }, (started) => (mes = started));
useRedis((client) => (redis = client));

beforeAll(async () => {
  registry = new Registry();
  const events = eventOptions(mes);
  queue = events.queue!;
  proxy = await createCacheProxy({
    upstream: mes.url,
    port: 0,
    redis,
    ...events,
    registry,
    eventRetryDelayMs: 100,
  });
  await consumerConnected(proxy);
});

afterAll(async () => {
  await proxy?.close();
});

/** Page 1 through the proxy, served from the index. */
async function cachedPage(): Promise<Awaited<ReturnType<typeof get>>> {
  const page = await get(proxy.url, LIST);
  if (page.headers.get('cache-status') === 'meskit; hit') return page;
  return get(proxy.url, LIST); // the first read after a fill-on-miss
}

describe('order events', () => {
  it('a take made directly at the MES removes the order once its event is consumed', async () => {
    const before = await cachedPage();
    const victim = ids(before)[2]!;
    const taken = await post(mes.url, `/api/orders/${victim}/take`, { operatorId: 5 });
    expect(taken.status).toBe(200);
    await waitFor(
      'the taken order left the index',
      async () => !ids(await cachedPage()).includes(victim),
    );
    const after = await cachedPage();
    expect(after.headers.get('cache-status')).toBe('meskit; hit');
    expect(after.json.total).toBe(before.json.total! - 1);
    expect(after.text).toBe((await get(mes.url, LIST)).text);
  });

  it('an order.manufacturing_started event removes the order it names', async () => {
    const victim = ids(await cachedPage())[0]!;
    // Another MES instance took it: the row changed, and only the event tells the proxy.
    await mes.query(
      `UPDATE orders SET status = 'MANUFACTURING_STARTED', operator_id = 1 WHERE id = $1`,
      [victim],
    );
    await mes.publish('order.manufacturing_started', {
      orderId: victim,
      externalId: 'x',
      status: 'MANUFACTURING_STARTED',
      previousStatus: 'MANUFACTURING_APPROVED',
      occurredAt: new Date().toISOString(),
    });
    await waitFor(
      'the order left the index',
      async () => !ids(await cachedPage()).includes(victim),
    );
    expect((await cachedPage()).text).toBe((await get(mes.url, LIST)).text);
    expect(await registry.getSingleMetric(CACHE_PROXY_METRICS.invalidations)?.get()).toMatchObject({
      values: expect.arrayContaining([expect.objectContaining({ labels: { source: 'event' } })]),
    });
  });

  it('an order the CRM approves appears on page 1 once its event is consumed; poison is dead-lettered and counted', async () => {
    const before = await cachedPage();
    const [fresh] = await mes.insert([{ status: 'PRICE_CALCULATED', createdAt: new Date() }]);
    // A poison message first: the consumer dead-letters it and keeps going.
    await mes.publish('order.manufacturing_approved', '{"orderId": 1, broken');
    // The CRM's approval carries no status: the routing key says it, and the MES applies it
    // after the proxy has received it (write-through waits for the MES to catch up).
    await mes.publish('order.manufacturing_approved', {
      orderId: fresh,
      occurredAt: new Date().toISOString(),
    });
    await waitFor(
      'the approved order tops page 1',
      async () => ids(await cachedPage())[0] === fresh,
    );
    const after = await cachedPage();
    expect(after.headers.get('cache-status')).toBe('meskit; hit');
    expect(after.json.total).toBe(before.json.total! + 1);
    expect(after.text).toBe((await get(mes.url, LIST)).text);
    expect(proxy.stats().writes).toBe(1);
    expect(proxy.stats().events.poison).toBe(1);
    const poison = await registry.getSingleMetric(CACHE_PROXY_METRICS.events)?.get();
    expect(poison?.values.find((v) => v.labels['outcome'] === 'poison')?.value).toBe(1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(poisonWarnings).toHaveLength(1);
    const connection = await amqp.connect(serviceUrls().amqpUrl);
    try {
      const channel = await connection.createChannel();
      const dead = await channel.get(`${queue}.dlq`, { noAck: true });
      expect(dead && dead.content.toString()).toBe('{"orderId": 1, broken');
    } finally {
      await connection.close();
    }
  });
});
