// The RabbitMQ side: the shop's and the CRM's messages, and a broker that goes away.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  createReferenceMes,
  generateRingStl,
  legacyPrice,
  type ReferenceMes,
} from '../src/index.js';
import {
  call,
  deleteTopology,
  waitFor,
  insertOrders,
  serviceUrls,
  startRelay,
  uniqueName,
  useMesOnBroker,
  type EventObserver,
  type TestDatabase,
} from './helpers.js';

let db: TestDatabase;
let mes: ReferenceMes;
let events: EventObserver;
let modelDir: string;
useMesOnBroker(
  'consumer',
  {
    // Failures only (the consume_failed lines): no request line per call in the test output.
    logLevel: 'warn',
    prepare: (dir) => mkdir(join(dir, 'shop')),
  },
  (fixture) => ({ db, mes, events, modelDir } = fixture),
);

/** What the shop does: store the customer's model, then announce the order. */
async function submitFromShop(externalId: string, triangles = 1_500): Promise<Buffer> {
  const model = generateRingStl({ triangles });
  await writeFile(join(modelDir, 'shop', `${externalId}.stl`), model);
  events.publish('order.submitted', {
    externalId,
    source: 'b2c',
    modelRef: `shop/${externalId}.stl`,
    occurredAt: new Date().toISOString(),
  });
  return model;
}

function priced(externalId: string) {
  return events.next(
    (e) => e.routingKey === 'order.price_calculated' && e.body['externalId'] === externalId,
  );
}

async function firstPageIds(): Promise<unknown[]> {
  const { body } = await call(
    mes.url,
    'GET',
    '/api/orders?status=MANUFACTURING_APPROVED&page=1&pageSize=20',
  );
  return body.items!.map((o) => o['id']);
}

describe('messages from the shop and the CRM', () => {
  it('submitted -> priced (order.price_calculated) -> approved by the CRM -> first on the dashboard', async () => {
    const externalId = uniqueName('SHOP');
    const model = await submitFromShop(externalId);

    const event = await priced(externalId);
    const quote = legacyPrice(model);
    expect(event.body).toMatchObject({
      externalId,
      status: 'PRICE_CALCULATED',
      previousStatus: 'SUBMITTED',
      price: quote.price,
    });
    const orderId = event.body['orderId'] as number;
    const order = await call(mes.url, 'GET', `/api/orders/${orderId}`);
    expect(order.body).toMatchObject({
      source: 'b2c',
      status: 'PRICE_CALCULATED',
      polygonCount: quote.triangles,
    });

    events.publish('order.manufacturing_approved', {
      orderId,
      externalId,
      occurredAt: new Date().toISOString(),
    });
    await waitFor(
      'the approved order tops the dashboard',
      async () => (await firstPageIds())[0] === orderId,
    );

    const history = await db.query<{ from_status: string | null; to_status: string }>(
      'SELECT from_status, to_status FROM order_status_history WHERE order_id = $1 ORDER BY id',
      [orderId],
    );
    expect(history.rows).toEqual([
      { from_status: null, to_status: 'SUBMITTED' },
      { from_status: 'SUBMITTED', to_status: 'PRICE_CALCULATED' },
      { from_status: 'PRICE_CALCULATED', to_status: 'MANUFACTURING_APPROVED' },
    ]);
  });

  it('a redelivered order.submitted creates no second order and no second price event', async () => {
    const externalId = uniqueName('TWICE');
    await submitFromShop(externalId);
    await submitFromShop(externalId);
    // A later order proves both copies were handled (one at a time, in order).
    const marker = uniqueName('AFTER');
    await submitFromShop(marker);
    await priced(marker);
    const rows = await db.query('SELECT id FROM orders WHERE external_id = $1', [externalId]);
    expect(rows.rowCount).toBe(1);
    const priceEvents = events.received.filter(
      (e) => e.routingKey === 'order.price_calculated' && e.body['externalId'] === externalId,
    );
    expect(priceEvents).toHaveLength(1);
  });

  it("the shop's statuses: initiated -> file uploaded -> submitted, each once in the history, then priced", async () => {
    const externalId = uniqueName('STEPS');
    const modelRef = `shop/${externalId}.stl`;
    events.publish('order.initiated', { externalId, source: 'b2c' });
    const statusIs = (status: string) => async () =>
      (
        await db.query<{ status: string }>('SELECT status FROM orders WHERE external_id = $1', [
          externalId,
        ])
      ).rows[0]?.status === status;
    await waitFor('the order is INITIATED', statusIs('INITIATED'));
    const initiated = await db.query<{ model_ref: string | null }>(
      'SELECT model_ref FROM orders WHERE external_id = $1',
      [externalId],
    );
    expect(initiated.rows).toEqual([{ model_ref: null }]);

    const model = generateRingStl({ triangles: 1_200 });
    await writeFile(join(modelDir, modelRef), model);
    events.publish('order.file_uploaded', { externalId, modelRef });
    await waitFor('the order is FILE_UPLOADED', statusIs('FILE_UPLOADED'));
    // A redelivered announcement changes nothing.
    events.publish('order.initiated', { externalId, source: 'b2c' });
    events.publish('order.file_uploaded', { externalId, modelRef });
    events.publish('order.submitted', { externalId, source: 'b2c', modelRef });

    const event = await priced(externalId);
    expect(event.body).toMatchObject({
      status: 'PRICE_CALCULATED',
      previousStatus: 'SUBMITTED',
      price: legacyPrice(model).price,
    });
    const history = await db.query(
      `SELECT h.from_status, h.to_status FROM order_status_history h
         JOIN orders o ON o.id = h.order_id WHERE o.external_id = $1 ORDER BY h.id`,
      [externalId],
    );
    expect(history.rows).toEqual([
      { from_status: null, to_status: 'INITIATED' },
      { from_status: 'INITIATED', to_status: 'FILE_UPLOADED' },
      { from_status: 'FILE_UPLOADED', to_status: 'SUBMITTED' },
      { from_status: 'SUBMITTED', to_status: 'PRICE_CALCULATED' },
    ]);
    const order = await db.query('SELECT model_ref FROM orders WHERE external_id = $1', [
      externalId,
    ]);
    expect(order.rows).toEqual([{ model_ref: modelRef }]);
  });

  it('a submission of an order seen only initiated records the upload on the way (no status skipped)', async () => {
    const externalId = uniqueName('SKIP');
    events.publish('order.initiated', { externalId });
    await submitFromShop(externalId);
    await priced(externalId);
    const history = await db.query<{ to_status: string }>(
      `SELECT h.to_status FROM order_status_history h
         JOIN orders o ON o.id = h.order_id WHERE o.external_id = $1 ORDER BY h.id`,
      [externalId],
    );
    expect(history.rows.map((r) => r.to_status)).toEqual([
      'INITIATED',
      'FILE_UPLOADED',
      'SUBMITTED',
      'PRICE_CALCULATED',
    ]);
  });

  it('order.closed closes a shipped order (found by externalId)', async () => {
    const externalId = uniqueName('CLOSE');
    const [id] = await insertOrders(db, [{ status: 'SHIPPED', createdAt: new Date(), externalId }]);
    events.publish('order.closed', { externalId, occurredAt: new Date().toISOString() });
    await waitFor(
      'the order is CLOSED',
      async () => (await call(mes.url, 'GET', `/api/orders/${id}`)).body['status'] === 'CLOSED',
    );
  });

  it('malformed and inapplicable messages are logged and counted; the consumer keeps going', async () => {
    const before = mes.stats();
    const shipped = uniqueName('NOTYET');
    await insertOrders(db, [
      { status: 'MANUFACTURING_APPROVED', createdAt: new Date(), externalId: shipped },
    ]);
    const bad: Array<[string, string | Record<string, unknown>]> = [
      ['order.submitted', '{"externalId": "broken'], // not JSON
      ['order.submitted', '[1, 2, 3]'], // not an object
      ['order.submitted', { modelRef: 'shop/x.stl' }], // no externalId
      ['order.submitted', { externalId: uniqueName('ESC'), modelRef: '../../etc/passwd' }], // escapes the store
      ['order.submitted', { externalId: uniqueName('NOFILE'), modelRef: 'shop/missing.stl' }], // file missing
      ['order.manufacturing_approved', { orderId: 987654321 }], // unknown order
      ['order.manufacturing_approved', { orderId: 'seven' }], // bad id
      ['order.closed', { externalId: shipped }], // not shipped yet
      ['order.initiated', { source: 'b2c' }], // no externalId
      ['order.initiated', { externalId: uniqueName('SRC'), source: 'shop' }], // bad source
      ['order.file_uploaded', { externalId: uniqueName('UP') }], // no modelRef
      ['order.file_uploaded', { externalId: uniqueName('UP'), modelRef: '/etc/passwd' }], // escapes the store
    ];
    for (const [key, body] of bad) events.publish(key, body);
    const after = uniqueName('STILL-ALIVE');
    await submitFromShop(after);
    await priced(after);

    const stats = mes.stats();
    expect(stats.consumeFailures - before.consumeFailures).toBe(bad.length);
    expect(stats.consumed - before.consumed).toBe(bad.length + 1);
    // The order whose model was missing stays SUBMITTED, as in the legacy system.
    const stuck = await db.query<{ status: string }>(
      `SELECT status FROM orders WHERE external_id LIKE 'NOFILE%'`,
    );
    expect(stuck.rows).toEqual([{ status: 'SUBMITTED' }]);
    expect((await call(mes.url, 'GET', '/health')).status).toBe(200);
  });
});

describe('a broker that goes away (fault injection)', () => {
  it('does not crash the MES: HTTP keeps working, lost publishes are counted, close() still works', async () => {
    const relay = await startRelay(new URL(serviceUrls().amqpUrl));
    const ex = uniqueName('test.fault.events');
    const q = uniqueName('test.fault.inbox');
    const fragile = await createReferenceMes({
      databaseUrl: db.url,
      amqpUrl: relay.url,
      modelDir,
      exchange: ex,
      queue: q,
      migrate: false,
      logLevel: 'warn',
    });
    try {
      relay.cut();
      await relay.close();
      // Operators keep taking orders; once the MES has seen the connection drop, the events
      // of those takes fail to publish (and are counted) while the takes still succeed.
      let takes = 0;
      await waitFor('a publish fails for want of a broker', async () => {
        const [id] = await insertOrders(db, [
          { status: 'MANUFACTURING_APPROVED', createdAt: new Date() },
        ]);
        const taken = await call(fragile.url, 'POST', `/api/orders/${id}/take`, { operatorId: 2 });
        expect(taken.status).toBe(200);
        takes++;
        return fragile.stats().publishFailures > 0;
      });
      const stats = (await call(fragile.url, 'GET', '/internal/stats')).body;
      expect(Number(stats['published']) + Number(stats['publishFailures'])).toBe(takes);
      expect(stats['publishedUnconfirmed']).toBe(stats['published']);
      expect((await call(fragile.url, 'GET', '/health')).status).toBe(200);
    } finally {
      await fragile.close();
      await deleteTopology(serviceUrls().amqpUrl, ex, q).catch(() => undefined);
    }
  });
});
