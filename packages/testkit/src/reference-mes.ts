// A reference MES on a fresh, migrated database of its own, optionally publishing its events on
// an exchange of its own, with the direct access the tests need (insert rows with exact
// statuses and times, publish as the CRM would).
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createReferenceMes,
  seedOrders,
  type MesPricingRunnerOptions,
  type PricingMode,
  type ReferenceMes,
} from '@meskit/reference-mes';
import amqp from 'amqplib';
import { createTestDatabase, type Query } from './database.js';
import { serviceUrls, uniqueName } from './services.js';

export interface TestMesOptions {
  /** Names its database, exchange and queue. Default: `'test_mes'`. */
  prefix?: string;
  /** Connect the MES to RabbitMQ on an exchange and queue of its own. Default: false. */
  amqp?: boolean;
  /** Orders seeded by the reference seeder (its status mix) before the MES starts. Default: 0. */
  seedOrders?: number;
  /**
   * A primary and streaming replica of the test's own (`startPostgres`): the database is made
   * on the primary and the MES reads from the replica through db-router. Default: the run's
   * primary, one pool.
   */
  postgres?: { primaryUrl: string; replicaUrl: string };
  /** The MES's `messaging` option. Default: its default (legacy). */
  messaging?: 'legacy' | 'reliable';
  /** A RabbitMQ of the test's own (one it restarts). Default: the run's. */
  amqpUrl?: string;
  /** The MES's `pagesApiUrl`: where its operators' page reads the list (a cache-proxy). */
  pagesApiUrl?: string;
  /** The MES's `pricing` mode and its `pricingRunner` options. Default: the MES's (legacy). */
  pricing?: PricingMode;
  pricingRunner?: MesPricingRunnerOptions;
}

export interface TestMes {
  mes: ReferenceMes;
  url: string;
  databaseUrl: string;
  /** The MES's model store (a temporary folder): the shop writes its customers' models here. */
  modelDir: string;
  exchange: string;
  queue: string;
  query: Query;
  /** Inserts orders directly (exact statuses and timestamps); returns their ids in order. */
  insert(rows: Array<{ status: string; createdAt: Date }>): Promise<number[]>;
  /** Publishes to the exchange as the CRM or the MES would (a string is sent as is). */
  publish(routingKey: string, body: string | Record<string, unknown>): Promise<void>;
  close(): Promise<void>;
}

export async function startTestMes(opts: TestMesOptions = {}): Promise<TestMes> {
  const prefix = opts.prefix ?? 'test_mes';
  const amqpUrl = opts.amqpUrl ?? serviceUrls().amqpUrl;
  const db = await createTestDatabase(prefix, opts.postgres?.primaryUrl);
  const replicaUrl = opts.postgres ? new URL(opts.postgres.replicaUrl) : undefined;
  if (replicaUrl) replicaUrl.pathname = new URL(db.url).pathname;
  const modelDir = await mkdtemp(join(tmpdir(), 'meskit-test-mes-'));
  const exchange = uniqueName(`test.${prefix}.events`);
  const queue = uniqueName(`test.${prefix}.mes-inbox`);
  if (opts.seedOrders) await seedOrders({ databaseUrl: db.url, orders: opts.seedOrders });
  const mes = await createReferenceMes({
    databaseUrl: db.url,
    ...(opts.amqp ? { amqpUrl, exchange, queue } : {}),
    ...(replicaUrl ? { replicaUrls: [replicaUrl.toString()] } : {}),
    ...(opts.messaging ? { messaging: opts.messaging } : {}),
    ...(opts.pagesApiUrl ? { pagesApiUrl: opts.pagesApiUrl } : {}),
    ...(opts.pricing ? { pricing: opts.pricing } : {}),
    ...(opts.pricingRunner ? { pricingRunner: opts.pricingRunner } : {}),
    modelDir,
    logLevel: 'silent',
  });
  const connection = opts.amqp ? await amqp.connect(amqpUrl) : undefined;
  const channel = await connection?.createConfirmChannel();
  if (channel) await channel.assertExchange(exchange, 'topic', { durable: true });
  let closed: Promise<void> | undefined;
  return {
    mes,
    url: mes.url,
    databaseUrl: db.url,
    modelDir,
    exchange,
    queue,
    query: db.query,
    async insert(rows) {
      if (rows.length === 0) return [];
      const values: unknown[] = [];
      const tuples = rows.map((row, i) => {
        values.push(uniqueName(`ext${i}`), row.status, row.createdAt);
        const n = i * 3;
        return `($${n + 1}, 'b2c', $${n + 2}, 'test/model.stl', $${n + 3}, $${n + 3})`;
      });
      const result = await db.query<{ id: string }>(
        `INSERT INTO orders (external_id, source, status, model_ref, created_at, updated_at)
         VALUES ${tuples.join(', ')} RETURNING id`,
        values,
      );
      return result.rows.map((r) => Number(r.id));
    },
    async publish(routingKey, body) {
      if (!channel) throw new Error('startTestMes({ amqp: true }) to publish');
      const content = typeof body === 'string' ? body : JSON.stringify(body);
      channel.publish(exchange, routingKey, Buffer.from(content), {
        contentType: 'application/json',
        messageId: randomBytes(8).toString('hex'),
      });
      await channel.waitForConfirms();
    },
    close() {
      closed ??= (async () => {
        await mes.close();
        if (connection) {
          const ch = await connection.createChannel().catch(() => undefined);
          await ch?.deleteExchange(exchange).catch(() => undefined);
          await ch?.deleteQueue(queue).catch(() => undefined);
          await connection.close().catch(() => undefined);
        }
        await db.drop();
        await rm(modelDir, { recursive: true, force: true });
      })();
      return closed;
    },
  };
}
