// Shared by the integration tests: each file gets its own database, exchange, queue and Redis
// key prefix, because test files run in parallel against the same servers.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createReferenceMes, type ReferenceMes } from '@meskit/reference-mes';
import amqp from 'amqplib';
import pg from 'pg';
import { inject } from 'vitest';
import type { Redis } from 'ioredis';
import type { CacheProxyOptions } from '../dist/index.js';

export function services(): { databaseUrl: string; amqpUrl: string; redisUrl: string } {
  const urls = inject('services');
  if (!urls.DATABASE_URL || !urls.AMQP_URL || !urls.REDIS_URL) {
    throw new Error('the vitest global setup provided no DATABASE_URL/AMQP_URL/REDIS_URL');
  }
  return { databaseUrl: urls.DATABASE_URL, amqpUrl: urls.AMQP_URL, redisUrl: urls.REDIS_URL };
}

export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
}

/** A reference MES on its own fresh database, publishing on its own exchange. */
export interface TestMes {
  mes: ReferenceMes;
  url: string;
  exchange: string;
  query: <R extends pg.QueryResultRow = pg.QueryResultRow>(
    sql: string,
    params?: unknown[],
  ) => Promise<pg.QueryResult<R>>;
  /** Inserts orders directly (exact statuses and timestamps); returns their ids in order. */
  insert(rows: Array<{ status: string; createdAt: Date }>): Promise<number[]>;
  /** Publishes to the exchange as the CRM or the MES would (a string is sent as is). */
  publish(routingKey: string, body: string | Record<string, unknown>): Promise<void>;
  close(): Promise<void>;
}

export async function startMes(opts: { amqp?: boolean } = {}): Promise<TestMes> {
  const { databaseUrl, amqpUrl } = services();
  const name = uniqueName('cache_proxy_test');
  await withClient(databaseUrl, (c) => c.query(`CREATE DATABASE ${name}`));
  const dbUrl = new URL(databaseUrl);
  dbUrl.pathname = `/${name}`;
  const pool = new pg.Pool({ connectionString: dbUrl.toString(), max: 4 });
  pool.on('error', () => undefined);
  const modelDir = await mkdtemp(join(tmpdir(), 'cache-proxy-mes-'));
  const exchange = uniqueName('test.cache-proxy.events');
  const queue = uniqueName('test.cache-proxy.mes-inbox');
  const mes = await createReferenceMes({
    databaseUrl: dbUrl.toString(),
    ...(opts.amqp ? { amqpUrl, exchange, queue } : {}),
    modelDir,
    logLevel: 'silent',
  });
  const connection = opts.amqp ? await amqp.connect(amqpUrl) : undefined;
  const channel = await connection?.createConfirmChannel();
  if (channel) await channel.assertExchange(exchange, 'topic', { durable: true });
  return {
    mes,
    url: mes.url,
    exchange,
    query: (sql, params) => pool.query(sql, params),
    async insert(rows) {
      if (rows.length === 0) return [];
      const values: unknown[] = [];
      const tuples = rows.map((row, i) => {
        values.push(uniqueName(`ext${i}`), row.status, row.createdAt);
        const n = i * 3;
        return `($${n + 1}, 'b2c', $${n + 2}, 'test/model.stl', $${n + 3}, $${n + 3})`;
      });
      const result = await pool.query<{ id: string }>(
        `INSERT INTO orders (external_id, source, status, model_ref, created_at, updated_at)
         VALUES ${tuples.join(', ')} RETURNING id`,
        values,
      );
      return result.rows.map((r) => Number(r.id));
    },
    async publish(routingKey, body) {
      if (!channel) throw new Error('startMes({ amqp: true }) to publish');
      const content = typeof body === 'string' ? body : JSON.stringify(body);
      channel.publish(exchange, routingKey, Buffer.from(content), {
        contentType: 'application/json',
        messageId: randomBytes(8).toString('hex'),
      });
      await channel.waitForConfirms();
    },
    async close() {
      await mes.close();
      if (connection) {
        const ch = await connection.createChannel().catch(() => undefined);
        await ch?.deleteExchange(exchange).catch(() => undefined);
        await ch?.deleteQueue(queue).catch(() => undefined);
        await connection.close().catch(() => undefined);
      }
      await pool.end();
      await withClient(databaseUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
      await rm(modelDir, { recursive: true, force: true });
    },
  };
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Seeds `count` orders: a mix of statuses, created one minute apart (newest last inserted). */
export async function seed(mes: TestMes, count: number, approvedShare = 0.5): Promise<number[]> {
  const now = Date.now();
  const rows = Array.from({ length: count }, (_, i) => ({
    status: (i * 7919) % 100 < approvedShare * 100 ? 'MANUFACTURING_APPROVED' : 'PRICE_CALCULATED',
    createdAt: new Date(now - (count - i) * 60_000),
  }));
  return mes.insert(rows);
}

export interface Answer {
  status: number;
  text: string;
  json: Record<string, unknown> & { items?: Array<Record<string, unknown>>; total?: number };
  headers: Headers;
}

export async function get(
  base: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const res = await fetch(`${base}${path}`, { headers });
  const text = await res.text();
  let json: Answer['json'] = {};
  try {
    json = JSON.parse(text) as Answer['json'];
  } catch {
    // not JSON: the test looks at text
  }
  return { status: res.status, text, json, headers: res.headers };
}

export async function post(
  base: string,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  let json: Answer['json'] = {};
  try {
    json = JSON.parse(text) as Answer['json'];
  } catch {
    // empty body (204)
  }
  return { status: res.status, text, json, headers: res.headers };
}

export function ids(answer: Answer): number[] {
  return (answer.json.items ?? []).map((item) => item['id'] as number);
}

/** For state with no event to await (an event the proxy consumed): polls until it holds. */
export async function eventually(
  what: string,
  condition: () => Promise<boolean> | boolean,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
}

/** A loopback port nothing listens on (bound, then released). */
export async function deadPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/**
 * The two stores every protocol test runs on: the in-memory one, and Redis under a fresh key
 * prefix (`redis()` is read when a test starts, after beforeAll connected it).
 */
export function storeVariants(redis: () => Redis) {
  return [
    { name: 'memory', options: (): Partial<CacheProxyOptions> => ({}) },
    {
      name: 'redis',
      options: (): Partial<CacheProxyOptions> => ({
        redis: redis(),
        keyPrefix: `${uniqueName('test')}:`,
      }),
    },
  ] as const;
}
