// Shared by the integration tests: each file gets its own database, exchange and queue,
// because test files run in parallel against the same servers.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import type { ChannelModel, ConsumeMessage } from 'amqplib';
import {
  createTestDatabase,
  deleteTopology,
  serviceUrls,
  uniqueName,
  type TestDatabase,
} from '@meskit/testkit';
import { afterAll, beforeAll } from 'vitest';
import { createReferenceMes, type ReferenceMes, type ReferenceMesOptions } from '../src/index.js';

// The shared pieces come from the test kit; this file keeps what only the MES's tests need.
export {
  createTestDatabase,
  deleteTopology,
  serviceUrls,
  startRelay,
  uniqueName,
  waitFor,
  type TestDatabase,
} from '@meskit/testkit';

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

/** A MES on a database, exchange, queue and model folder of its own, and its events observed. */
export interface MesOnBroker {
  db: TestDatabase;
  mes: ReferenceMes;
  events: EventObserver;
  modelDir: string;
  exchange: string;
  queue: string;
}

/**
 * For the whole test file: a MES on RabbitMQ (`name` tags its exchange, queue and folders),
 * started with `options` after `prepare(modelDir)`, handed to `ready` before the file's own
 * beforeAll hooks; closed after its tests (topology deleted, database dropped, folder removed).
 * Call it before the file registers hooks of its own (vitest runs after-hooks in reverse order).
 */
export function useMesOnBroker(
  name: string,
  options: Partial<ReferenceMesOptions> & { prepare?: (modelDir: string) => Promise<unknown> },
  ready: (fixture: MesOnBroker) => void,
): void {
  const exchange = uniqueName(`test.${name}.events`);
  const queue = uniqueName(`test.${name}.inbox`);
  const opened: Partial<MesOnBroker> = {};
  beforeAll(async () => {
    const { amqpUrl } = serviceUrls();
    const { prepare, ...mesOptions } = options;
    const db = (opened.db = await createTestDatabase(`mes_${name.replace(/\W/g, '_')}`));
    const modelDir = (opened.modelDir = await mkdtemp(join(tmpdir(), `mes-${name}-`)));
    await prepare?.(modelDir);
    const mes = (opened.mes = await createReferenceMes({
      databaseUrl: db.url,
      amqpUrl,
      modelDir,
      exchange,
      queue,
      ...mesOptions,
    }));
    const events = (opened.events = await observeEvents(amqpUrl, exchange));
    ready({ db, mes, events, modelDir, exchange, queue });
  });
  afterAll(async () => {
    await opened.events?.close();
    await opened.mes?.close();
    await deleteTopology(serviceUrls().amqpUrl, exchange, queue).catch(() => undefined);
    await opened.db?.drop();
    if (opened.modelDir) await rm(opened.modelDir, { recursive: true, force: true });
  });
}
