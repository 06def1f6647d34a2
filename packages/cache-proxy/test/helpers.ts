// Shared by the integration tests: each file gets its own database, exchange, queue and Redis
// key prefix, because test files run in parallel against the same servers. The pieces every
// package's tests share come from the test kit.
import {
  serviceUrls,
  startTestMes,
  uniqueName,
  waitFor,
  type TestMes,
  type TestMesOptions,
} from '@meskit/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import type { CacheProxy, CacheProxyOptions } from '../dist/index.js';

export {
  deadPort,
  manualClock,
  serviceUrls,
  startRelay,
  uniqueName,
  waitFor,
  type TestMes,
} from '@meskit/testkit';

/** A reference MES on its own fresh database (see the test kit), named for these tests. */
export function startMes(opts: Omit<TestMesOptions, 'prefix'> = {}): Promise<TestMes> {
  return startTestMes({ prefix: 'cache_proxy_test', ...opts });
}

/**
 * For the whole test file: a reference MES (on RabbitMQ with `amqp`) seeded with `orders` (see
 * seed()), handed to `ready` before the file's own beforeAll hooks run and closed after its
 * afterAll hooks: call it before registering them (vitest runs after-hooks in reverse order).
 */
export function useMes(
  opts: {
    orders: number;
    approvedShare?: number;
    amqp?: boolean;
    /** A pair of the file's own, read through db-router (given by a getter: it starts first). */
    postgres?: () => { primaryUrl: string; replicaUrl: string };
    messaging?: 'legacy' | 'reliable';
  },
  ready: (mes: TestMes) => void,
): void {
  let started: TestMes | undefined;
  beforeAll(async () => {
    started = await startMes({
      amqp: opts.amqp ?? false,
      ...(opts.postgres ? { postgres: opts.postgres() } : {}),
      ...(opts.messaging ? { messaging: opts.messaging } : {}),
    });
    await seed(started, opts.orders, opts.approvedShare);
    ready(started);
  });
  afterAll(async () => {
    await started?.close();
  });
}

/** For the whole test file: a client of the run's Redis, quit after the file's tests. */
export function useRedis(ready: (redis: Redis) => void): void {
  let client: Redis | undefined;
  beforeAll(() => {
    client = new Redis(serviceUrls().redisUrl);
    ready(client);
  });
  afterAll(async () => {
    await client?.quit();
  });
}

/** The process warnings emitted while the file's tests run (listened to from its start). */
export function useWarnings(code: string): Error[] {
  const warnings: Error[] = [];
  const onWarning = (warning: Error): void => {
    if ((warning as Error & { code?: string }).code === code) warnings.push(warning);
  };
  beforeAll(() => {
    process.on('warning', onWarning);
  });
  afterAll(() => {
    process.off('warning', onWarning);
  });
  return warnings;
}

/** Options of a proxy consuming `mes`'s events on a queue and a key prefix of its own. */
export function eventOptions(mes: TestMes): Partial<CacheProxyOptions> {
  return {
    keyPrefix: `${uniqueName('test')}:`,
    amqpUrl: serviceUrls().amqpUrl,
    exchange: mes.exchange,
    queue: uniqueName('test.cache-proxy'),
  };
}

/** Until the proxy's consumer is connected (it drops the indexes then: events may be missed). */
export function consumerConnected(proxy: CacheProxy): Promise<void> {
  return waitFor('the consumer is connected', () => proxy.stats().consumer === 'connected');
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
