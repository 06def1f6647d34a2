// Shared by the integration tests: each file gets its own database, exchange and queue,
// because test files run in parallel against the same servers.
import { randomBytes } from 'node:crypto';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import amqp from 'amqplib';
import type { ChannelModel, ConsumeMessage } from 'amqplib';
import pg from 'pg';
import { inject } from 'vitest';

export interface TestUrls {
  databaseUrl: string;
  amqpUrl: string;
}

export function serviceUrls(): TestUrls {
  const urls = inject('services');
  if (!urls.DATABASE_URL || !urls.AMQP_URL) {
    throw new Error('the vitest global setup provided no DATABASE_URL/AMQP_URL');
  }
  return { databaseUrl: urls.DATABASE_URL, amqpUrl: urls.AMQP_URL };
}

export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
}

export interface TestDatabase {
  url: string;
  /** A client on the test database, closed by drop(). */
  query: <R extends pg.QueryResultRow = pg.QueryResultRow>(
    sql: string,
    params?: unknown[],
  ) => Promise<pg.QueryResult<R>>;
  drop(): Promise<void>;
}

/** CREATE DATABASE mes_test_<random> on the primary; drop() removes it (WITH FORCE). */
export async function createTestDatabase(): Promise<TestDatabase> {
  const { databaseUrl } = serviceUrls();
  const name = uniqueName('mes_test');
  await withClient(databaseUrl, (c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(databaseUrl);
  url.pathname = `/${name}`;
  const pool = new pg.Pool({ connectionString: url.toString(), max: 2 });
  // pool.end() resolves before its sockets have closed; DROP DATABASE ... WITH (FORCE) may then
  // terminate a backend still saying goodbye, which surfaces here instead of as a crash.
  pool.on('error', () => undefined);
  return {
    url: url.toString(),
    query: (sql, params) => pool.query(sql, params),
    drop: async () => {
      await pool.end();
      await withClient(databaseUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
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

export interface ReceivedEvent {
  routingKey: string;
  body: Record<string, unknown>;
  messageId: unknown;
  headers: Record<string, unknown>;
  contentType: unknown;
}

/** An exclusive queue bound to the exchange: what a downstream consumer would receive. */
export interface EventObserver {
  /** Resolves with the first event (already received or future) matching `match`. */
  next(match: (e: ReceivedEvent) => boolean, timeoutMs?: number): Promise<ReceivedEvent>;
  readonly received: readonly ReceivedEvent[];
  /** Publishes to the exchange as the shop or the CRM would. */
  publish(routingKey: string, body: string | Record<string, unknown>): void;
  close(): Promise<void>;
}

export async function observeEvents(
  amqpUrl: string,
  exchange: string,
  pattern = 'order.#',
): Promise<EventObserver> {
  const connection: ChannelModel = await amqp.connect(amqpUrl);
  const channel = await connection.createChannel();
  await channel.assertExchange(exchange, 'topic', { durable: true });
  const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true });
  await channel.bindQueue(queue, exchange, pattern);
  const received: ReceivedEvent[] = [];
  const waiters = new Set<{
    match: (e: ReceivedEvent) => boolean;
    resolve: (e: ReceivedEvent) => void;
  }>();
  await channel.consume(
    queue,
    (msg: ConsumeMessage | null) => {
      if (!msg) return;
      const event: ReceivedEvent = {
        routingKey: msg.fields.routingKey,
        body: parseObject(msg.content.toString('utf8')),
        messageId: msg.properties.messageId,
        headers: (msg.properties.headers ?? {}) as Record<string, unknown>,
        contentType: msg.properties.contentType,
      };
      received.push(event);
      for (const waiter of waiters) {
        if (waiter.match(event)) {
          waiters.delete(waiter);
          waiter.resolve(event);
        }
      }
    },
    { noAck: true },
  );
  return {
    received,
    next: (match, timeoutMs = 20_000) => {
      const seen = received.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const waiter = {
          match,
          resolve: (e: ReceivedEvent) => {
            clearTimeout(timer);
            resolve(e);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(
            new Error(`no matching event within ${timeoutMs} ms; got ${received.length} others`),
          );
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
    publish: (routingKey, body) => {
      const content = typeof body === 'string' ? body : JSON.stringify(body);
      channel.publish(exchange, routingKey, Buffer.from(content), {
        contentType: 'application/json',
      });
    },
    close: async () => {
      await connection.close().catch(() => undefined);
    },
  };
}

/** The tests publish malformed messages on purpose: the observer must not choke on them. */
function parseObject(text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : { unparsed: text };
  } catch {
    return { unparsed: text };
  }
}

/** Deletes the durable exchange and queue a test file's MES declared. */
export async function deleteTopology(
  amqpUrl: string,
  exchange: string,
  queue: string,
): Promise<void> {
  const connection = await amqp.connect(amqpUrl);
  try {
    const channel = await connection.createChannel();
    await channel.deleteQueue(queue);
    await channel.deleteExchange(exchange);
  } finally {
    await connection.close().catch(() => undefined);
  }
}

/**
 * For state with no event to await (a row the consumer wrote without publishing): checks
 * `condition` until it holds, failing with `what` after `timeoutMs`.
 */
export async function eventually(
  what: string,
  condition: () => Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
}

export interface JsonReply {
  status: number;
  body: Record<string, unknown> & {
    error?: { code: string; message: string };
    items?: Array<Record<string, unknown>>;
  };
  headers: Headers;
}

export async function call(
  baseUrl: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<JsonReply> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body instanceof Uint8Array) {
    init.body = body;
  } else if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
  }
  const res = await fetch(`${baseUrl}${path}`, init);
  const text = await res.text();
  return {
    status: res.status,
    body: text ? (JSON.parse(text) as JsonReply['body']) : {},
    headers: res.headers,
  };
}

/** Inserts orders directly (tests need exact statuses and timestamps). Returns their ids. */
export async function insertOrders(
  db: TestDatabase,
  rows: Array<{ status: string; createdAt: Date; externalId?: string; source?: string }>,
): Promise<number[]> {
  const ids: number[] = [];
  for (const [i, row] of rows.entries()) {
    const result = await db.query<{ id: string }>(
      `INSERT INTO orders (external_id, source, status, model_ref, created_at, updated_at)
       VALUES ($1, $2, $3, 'test/model.stl', $4, $4) RETURNING id`,
      [row.externalId ?? uniqueName(`ext${i}`), row.source ?? 'b2c', row.status, row.createdAt],
    );
    ids.push(Number(result.rows[0]!.id));
  }
  return ids;
}

/** A TCP relay to a server that a test can cut, as if the server died. */
export async function startRelay(
  target: URL,
): Promise<{ url: string; cut(): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = createConnection(Number(target.port), target.hostname);
    for (const [a, b] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      sockets.add(a);
      a.pipe(b);
      a.on('error', () => b.destroy());
      a.on('close', () => {
        sockets.delete(a);
        b.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const url = new URL(target.toString());
  url.port = String(port);
  url.hostname = '127.0.0.1';
  return {
    url: url.toString(),
    cut: () => {
      for (const socket of sockets) socket.destroy();
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
