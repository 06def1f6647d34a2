// Shared by the integration tests: each file gets its own database, exchange, queue and Redis
// key prefix, because test files run in parallel against the same servers. The pieces every
// package's tests share come from the test kit.
import { startTestMes, uniqueName, type TestMes } from '@meskit/testkit';
import type { Redis } from 'ioredis';
import type { CacheProxyOptions } from '../dist/index.js';

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
export function startMes(opts: { amqp?: boolean } = {}): Promise<TestMes> {
  return startTestMes({ prefix: 'cache_proxy_test', ...opts });
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
