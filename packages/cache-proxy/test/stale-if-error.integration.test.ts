// Stale-if-error: the MES fails while the index has expired. Reads keep being answered from
// the expired index for staleIfErrorMs (marked), removals still apply to it, writes fail as the
// MES fails, and past the bound the MES's failure comes through.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCacheProxy } from '../dist/index.js';
import {
  get,
  ids,
  post,
  seed,
  services,
  startMes,
  storeVariants,
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

beforeAll(async () => {
  mes = await startMes();
  await seed(mes, 200);
  redis = new Redis(services().redisUrl);
});
afterAll(async () => {
  await redis?.quit();
  await mes?.close();
});

const stores = storeVariants(() => redis);

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each(stores)('stale-if-error ($name store)', ({ options }) => {
  it('answers from the expired index while the MES fails, for staleIfErrorMs only', async () => {
    const upstream = await switchable(mes.url);
    const proxy = await createCacheProxy({
      upstream: upstream.url,
      port: 0,
      ttlMs: TTL_MS,
      staleIfErrorMs: STALE_IF_ERROR_MS,
      registry: new Registry(),
      ...options(),
    });
    try {
      const before = await get(proxy.url, LIST);
      expect(before.status).toBe(200);
      const [taken, stillThere] = ids(before);
      expect((await post(proxy.url, `/api/orders/${taken}/take`, { operatorId: 1 })).status).toBe(
        200,
      );

      upstream.failing = true;
      await pause(TTL_MS + 100); // the index has expired; its refill will find the MES failing
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
      await pause(STALE_IF_ERROR_MS + TTL_MS + 1_200);
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
