// One shop order's messages, published back to back, on the MES with MES_MESSAGING=reliable:
// its consumer holds many deliveries at once (the prefetch), and an order's messages must
// still take effect in the order the shop sent them. Run side by side, a file_uploaded could
// insert the order before its initiated, which then found the order and did nothing: the
// history lost INITIATED (seen in the E2E lifecycle).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deleteConsumerTopology } from '@meskit/testkit';
import amqp from 'amqplib';
import { afterAll, describe, expect, it } from 'vitest';
import type { ReferenceMes } from '../src/index.js';
import {
  serviceUrls,
  uniqueName,
  useMesOnBroker,
  waitFor,
  type EventObserver,
  type TestDatabase,
} from './helpers.js';

const ORDERS = 20;

let db: TestDatabase;
let mes: ReferenceMes;
let events: EventObserver;
let modelDir: string;
let queue: string;
useMesOnBroker(
  'reliable-ordering',
  { messaging: 'reliable', logLevel: 'warn', prepare: (dir) => mkdir(join(dir, 'shop')) },
  (fixture) => ({ db, mes, events, modelDir, queue } = fixture),
);
// Registered after the fixture, so it runs first: the consumer's wait and dead-letter queues.
afterAll(async () => {
  await mes?.close();
  await deleteConsumerTopology(serviceUrls().amqpUrl, queue).catch(() => undefined);
});

describe('the MES on reliable messaging', () => {
  it("applies one order's messages in the order they were sent, whatever the prefetch", async () => {
    // The reliable consumer declares its queue once connected, after the MES has started.
    await waitFor('the MES consumes its queue', async () => {
      const connection = await amqp.connect(serviceUrls().amqpUrl);
      try {
        const channel = await connection.createChannel();
        return (await channel.checkQueue(queue)).consumerCount > 0;
      } catch {
        return false; // not declared yet (the failed check closed the channel)
      } finally {
        await connection.close().catch(() => undefined);
      }
    });
    const ids = Array.from({ length: ORDERS }, () => uniqueName('SEQ'));
    for (const externalId of ids) {
      const modelRef = `shop/${externalId}.stl`;
      await writeFile(join(modelDir, modelRef), 'solid empty\nendsolid empty\n');
      // Back to back: the consumer has all of one order's messages at once.
      events.publish('order.initiated', { externalId, source: 'b2c' });
      events.publish('order.file_uploaded', { externalId, modelRef });
    }
    const histories = async () =>
      (
        await db.query<{ external_id: string; path: string[] }>(
          `SELECT o.external_id, array_agg(h.to_status ORDER BY h.id) AS path
             FROM orders o JOIN order_status_history h ON h.order_id = o.id
            WHERE o.external_id = ANY($1) GROUP BY o.external_id`,
          [ids],
        )
      ).rows;
    await waitFor(
      'every order FILE_UPLOADED',
      async () =>
        (await histories()).filter((row) => row.path.at(-1) === 'FILE_UPLOADED').length === ORDERS,
      { hint: async () => JSON.stringify(await histories()) },
    );
    const paths = new Map((await histories()).map((row) => [row.external_id, row.path]));
    for (const externalId of ids)
      expect(paths.get(externalId), externalId).toEqual(['INITIATED', 'FILE_UPLOADED']);
  });
});
