// The before/after of mq-reliable on the MES itself: the same MES code, the same takes and CRM
// approvals, the same broker SIGKILLed and restarted in the middle, once with the legacy
// messaging (the default) and once with MES_MESSAGING=reliable. Legacy loses the events of
// every take after the kill and never consumes the CRM's messages again; reliable loses none
// and applies every approval once.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRabbitMq, type RabbitMqServer } from '@meskit/services';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReferenceMes, type MessagingMode } from '../src/index.js';
import { call, createTestDatabase, waitFor } from './helpers.js';

const ORDERS = 120;
const APPROVALS = 40;
const dir = mkdtempSync(join(tmpdir(), 'meskit-mes-faults-'));
let broker: RabbitMqServer;

beforeAll(async () => {
  chmodSync(dir, 0o755); // RabbitMQ runs as its own user when started by root
  broker = await startRabbitMq({ dir });
}, 120_000);
afterAll(async () => {
  await broker?.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Outcome {
  takes: number;
  /** Orders whose take event reached the CRM's queue (distinct: copies counted once). */
  takeEvents: number;
  approved: number;
  stats: Record<string, unknown>;
}

/** Takes ORDERS orders and sends APPROVALS approvals, with the broker killed halfway. */
async function run(messaging: MessagingMode): Promise<Outcome> {
  const db = await createTestDatabase(`mes_faults_${messaging}`);
  const modelDir = mkdtempSync(join(dir, 'models-'));
  const exchange = `test.mes-faults.${messaging}`;
  const mes = await createReferenceMes({
    databaseUrl: db.url,
    amqpUrl: broker.url,
    exchange,
    modelDir,
    messaging,
    logLevel: 'silent',
  });
  // What the CRM receives: a durable queue of its own on the MES's exchange.
  const downstream = `${exchange}.crm`;
  const setup = await amqp.connect(broker.url);
  const channel = await setup.createChannel();
  await channel.assertExchange(exchange, 'topic', { durable: true });
  await channel.assertQueue(downstream, { durable: true });
  await channel.bindQueue(downstream, exchange, 'order.manufacturing_started');
  await setup.close();
  try {
    const ids = (
      await db.query<{ id: string }>(
        `INSERT INTO orders (external_id, source, status, model_ref)
         SELECT 'take-' || n, 'b2c', 'MANUFACTURING_APPROVED', 'm.stl' FROM generate_series(1, $1) AS n
         RETURNING id`,
        [ORDERS],
      )
    ).rows.map((r) => Number(r.id));
    const priced = (
      await db.query<{ id: string }>(
        `INSERT INTO orders (external_id, source, status, model_ref)
         SELECT 'approve-' || n, 'b2c', 'PRICE_CALCULATED', 'm.stl' FROM generate_series(1, $1) AS n
         RETURNING id`,
        [APPROVALS],
      )
    ).rows.map((r) => Number(r.id));
    let takes = 0;
    const take = async (id: number) => {
      const reply = await call(mes.url, 'POST', `/api/orders/${id}/take`, { operatorId: 1 });
      if (reply.status === 200) takes += 1;
    };
    for (const id of ids.slice(0, ORDERS / 2)) await take(id);
    await broker.kill();
    for (const id of ids.slice(ORDERS / 2, (ORDERS * 3) / 4)) await take(id); // broker down
    await broker.start();
    for (const id of ids.slice((ORDERS * 3) / 4)) await take(id);

    // The CRM approves orders after the restart, with confirms: each reached the MES's queue.
    const crm = await amqp.connect(broker.url);
    const confirm = await crm.createConfirmChannel();
    for (const id of priced)
      confirm.publish(
        exchange,
        'order.manufacturing_approved',
        Buffer.from(JSON.stringify({ orderId: id })),
        {
          persistent: true,
          messageId: `approve-${id}`,
        },
      );
    await confirm.waitForConfirms();
    await crm.close();

    const approvedCount = async () =>
      Number(
        (
          await db.query<{ n: string }>(
            "SELECT count(*) AS n FROM orders WHERE external_id LIKE 'approve-%' AND status = 'MANUFACTURING_APPROVED'",
          )
        ).rows[0]?.n,
      );
    // What reached the CRM's queue, read (and removed) as it comes: the orders whose take
    // event arrived, and how many copies (delivery is at-least-once: a resend after the kill
    // may add one, with the same message-id, for the CRM's inbox to skip).
    const orders = new Set<number>();
    const messageIds = new Set<string>();
    let copies = 0;
    const readArrived = async (): Promise<number> => {
      const c = await amqp.connect(broker.url);
      try {
        const ch = await c.createChannel();
        for (;;) {
          const message = await ch.get(downstream, { noAck: true });
          if (message === false) break;
          copies += 1;
          messageIds.add(String(message.properties.messageId));
          orders.add((JSON.parse(message.content.toString()) as { orderId: number }).orderId);
        }
      } finally {
        await c.close();
      }
      return orders.size;
    };
    if (messaging === 'reliable') {
      await waitFor(
        'every take event and approval',
        async () => (await readArrived()) >= takes && (await approvedCount()) === APPROVALS,
        { timeoutMs: 60_000 },
      );
    } else {
      // Legacy: nothing more will come once it noticed the broker died.
      await waitFor(
        'the legacy MES noticed the broker died',
        () => mes.stats().publishFailures > 0,
      );
      await readArrived();
    }
    expect(messageIds.size).toBe(orders.size); // a copy is a copy: same message-id, same order
    expect(copies).toBeGreaterThanOrEqual(orders.size);
    return {
      takes,
      takeEvents: orders.size,
      approved: await approvedCount(),
      stats: { ...mes.stats() },
    };
  } finally {
    await mes.close();
    await db.drop();
  }
}

describe('the MES with its broker SIGKILLed mid-way', () => {
  it('legacy messaging loses events and stops consuming', { timeout: 180_000 }, async () => {
    const legacy = await run('legacy');
    expect(legacy.takes).toBe(ORDERS); // the API kept working
    expect(legacy.takeEvents).toBeLessThanOrEqual(ORDERS / 2); // every event after the kill is gone
    expect(ORDERS - legacy.takeEvents).toBeGreaterThanOrEqual(ORDERS / 2);
    expect(legacy.approved).toBe(0); // the CRM's approvals are never consumed
    expect(legacy.stats).toMatchObject({ messaging: 'legacy' });
  });

  it(
    'reliable messaging (MES_MESSAGING=reliable) loses none and applies each approval once',
    { timeout: 180_000 },
    async () => {
      const reliable = await run('reliable');
      expect(reliable.takes).toBe(ORDERS);
      expect(reliable.takeEvents).toBe(ORDERS); // 0 lost
      expect(reliable.approved).toBe(APPROVALS);
      expect(reliable.stats).toMatchObject({
        messaging: 'reliable',
        published: ORDERS,
        publishedUnconfirmed: 0,
        consumed: APPROVALS,
        consumeFailures: 0,
      });
    },
  );
});
