// Stale-if-error: the MES fails while the index has expired. Reads keep being answered from
// the expired index for staleIfErrorMs (marked), removals still apply to it, writes fail as the
// MES fails, and past the bound the MES's failure comes through. Time passes without sleeping:
// the memory store runs on a clock the test moves, and on Redis the test waits for the keys'
// own expiry (PX), the event the proxy itself goes by.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createCacheProxy, type CacheProxyOptions } from '../dist/index.js';
import { TEST_HOOKS } from '../dist/internal/hooks.js';
import {
  get,
  ids,
  manualClock,
  post,
  uniqueName,
  useMes,
  useRedis,
  waitFor,
  type TestMes,
} from './helpers.js';

const LIST = '/api/orders?status=MANUFACTURING_APPROVED';
const TTL_MS = 300;
const STALE_IF_ERROR_MS = 2_000;

let mes: TestMes;
let redis: Redis;

/** The MES behind a switch: when failing, every request is answered 503 as a sick MES would. */
async function switchable(
  target: string,
): Promise<{ url: string; failing: boolean; server: Server }> {
  const state = { url: '', failing: false, server: undefined as unknown as Server };
  state.server = createServer((req, res) => {
    if (state.failing) {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end('{"error":{"code":"UNAVAILABLE","message":"the MES is down"}}');
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const headers = { ...req.headers } as Record<string, string>;
      delete headers['host'];
      delete headers['connection'];
      fetch(`${target}${req.url ?? '/'}`, {
        method: req.method,
        headers,
        body: chunks.length > 0 ? Buffer.concat(chunks) : undefined,
      })
        .then(async (answer) => {
          res.writeHead(answer.status, {
            'content-type': answer.headers.get('content-type') ?? '',
          });
          res.end(Buffer.from(await answer.arrayBuffer()));
        })
        .catch(() => res.writeHead(502).end());
    });
  });
  await new Promise<void>((resolve) => state.server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(state.server.address() as AddressInfo).port}`;
  return state;
}

useMes({ orders: 200 }, (started) => (mes = started));
useRedis((client) => (redis = client));

/** The index's `filled` flag lives ttlMs; its data ttlMs + max(ttlMs, staleIfErrorMs) + 1 s. */
const DATA_TTL_MS = TTL_MS + Math.max(TTL_MS, STALE_IF_ERROR_MS) + 1_000;

interface StoreVariant {
  name: string;
  options(): Partial<CacheProxyOptions>;
  /** Until the index has expired (served no more, but its data still there). */
  indexExpired(): Promise<void>;
  /** Until the index's data have expired too (past staleIfErrorMs). */
  dataExpired(): Promise<void>;
}

function memoryVariant(): StoreVariant {
  const clock = manualClock();
  return {
    name: 'memory',
    options: () => ({ [TEST_HOOKS]: { now: clock.now } }),
    indexExpired: () => Promise.resolve(clock.advance(TTL_MS + 1)),
    dataExpired: () => Promise.resolve(clock.advance(DATA_TTL_MS)),
  };
}

function redisVariant(): StoreVariant {
  const prefix = `${uniqueName('test')}:`;
  const key = (name: string) => `${prefix}{MANUFACTURING_APPROVED}:${name}`;
  const gone = (name: string) => async () => (await redis.exists(key(name))) === 0;
  return {
    name: 'redis',
    options: () => ({ redis, keyPrefix: prefix }),
    indexExpired: () => waitFor('the index expired in Redis', gone('filled')),
    dataExpired: () => waitFor("the index's data expired in Redis", gone('total')),
  };
}

describe.each([memoryVariant(), redisVariant()])('stale-if-error ($name store)', (store) => {
  it('answers from the expired index while the MES fails, for staleIfErrorMs only', async () => {
    const upstream = await switchable(mes.url);
    const proxy = await createCacheProxy({
      upstream: upstream.url,
      port: 0,
      ttlMs: TTL_MS,
      staleIfErrorMs: STALE_IF_ERROR_MS,
      registry: new Registry(),
      ...store.options(),
    });
    try {
      const before = await get(proxy.url, LIST);
      expect(before.status).toBe(200);
      const [taken, stillThere] = ids(before);
      expect((await post(proxy.url, `/api/orders/${taken}/take`, { operatorId: 1 })).status).toBe(
        200,
      );

      upstream.failing = true;
      await store.indexExpired(); // its refill will find the MES failing
      const stale = await get(proxy.url, LIST);
      expect(stale.status).toBe(200);
      expect(stale.headers.get('cache-status')).toBe('meskit; hit; detail=stale-if-error');
      expect(ids(stale)).not.toContain(taken); // removals still apply
      expect(ids(stale)).toContain(stillThere);
      expect(stale.json.total).toBe((before.json.total ?? 0) - 1);
      expect(proxy.stats().requests.staleIfError).toBeGreaterThan(0);

      // Writes fail as the MES fails, and change nothing.
      const write = await post(proxy.url, `/api/orders/${stillThere}/take`, { operatorId: 2 });
      expect(write.status).toBe(503);
      expect(ids(await get(proxy.url, LIST))).toContain(stillThere);

      // Past the bound, the MES's failure comes through.
      await store.dataExpired();
      const late = await get(proxy.url, LIST);
      expect(late.status).toBe(503);
      expect(late.headers.get('cache-status')).toMatch(/fwd=bypass/);

      // The MES recovers: the list fills again and the taken order stays off it.
      upstream.failing = false;
      const recovered = await get(proxy.url, LIST);
      expect(recovered.status).toBe(200);
      expect(ids(recovered)).not.toContain(taken);
    } finally {
      await proxy.close();
      await new Promise((resolve) => upstream.server.close(resolve));
    }
  });
});
