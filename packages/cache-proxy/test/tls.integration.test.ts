// The proxy on the run's TLS listeners: its index in Redis over rediss:// and its events over
// amqps://, both verified against the run's CA (ssl_ca_certs, cacertfile). With a CA of the
// test's own, the proxy still answers (forwarding to the MES) and says once why Redis is out:
// the refused certificate, naming the server.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTlsFiles, type TlsFiles } from '@meskit/services';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createCacheProxy } from '../dist/index.js';
import {
  consumerConnected,
  get,
  ids,
  post,
  uniqueName,
  useMes,
  useRedis,
  useWarnings,
  waitFor,
  type TestMes,
} from './helpers.js';
import type { Redis } from 'ioredis';

const LIST = '/api/orders?status=MANUFACTURING_APPROVED';

function tlsUrl(name: 'REDIS_TLS_URL' | 'AMQP_TLS_URL'): string {
  const url = inject('services')[name];
  if (!url)
    throw new Error(`the services run has no ${name} (started without TLS): start a new run`);
  return url;
}

let mes: TestMes;
let redis: Redis;
let dir: string;
let stranger: TlsFiles;
const tlsWarnings = useWarnings('MESKIT_CACHE_REDIS_TLS');
useMes({ orders: 40, amqp: true }, (started) => (mes = started));
useRedis((client) => (redis = client));
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'meskit-cache-tls-'));
  stranger = createTlsFiles({ dir, name: 'stranger' });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('createCacheProxy over TLS', () => {
  it('keeps its index in Redis over rediss:// and consumes events over amqps://', async () => {
    const keyPrefix = `${uniqueName('tls')}:`;
    const proxy = await createCacheProxy({
      upstream: mes.url,
      port: 0,
      redis: tlsUrl('REDIS_TLS_URL'),
      amqpUrl: tlsUrl('AMQP_TLS_URL'),
      exchange: mes.exchange,
      queue: uniqueName('test.cache-proxy.tls'),
      keyPrefix,
      registry: new Registry(),
    });
    try {
      await consumerConnected(proxy);
      const first = await get(proxy.url, LIST);
      const second = await get(proxy.url, LIST);
      expect(second.headers.get('cache-status')).toBe('meskit; hit');
      expect(second.text).toBe((await get(mes.url, LIST)).text);
      expect(first.text).toBe(second.text);
      expect(proxy.stats()).toMatchObject({ store: 'redis', redisErrors: 0 });
      // The index is in the run's Redis (read here on its plain port).
      expect(await redis.keys(`${keyPrefix}*`)).not.toEqual([]);
      // A take made at the MES comes back as an event over amqps:// and leaves the index.
      const victim = ids(second)[0]!;
      expect((await post(mes.url, `/api/orders/${victim}/take`, { operatorId: 5 })).status).toBe(
        200,
      );
      await waitFor('the taken order left the index', async () => {
        const page = await get(proxy.url, LIST);
        return page.headers.get('cache-status') === 'meskit; hit' && !ids(page).includes(victim);
      });
      expect(proxy.stats().events.applied).toBeGreaterThan(0);
    } finally {
      await proxy.close();
    }
  });

  it('a CA Redis’s certificate is not signed by: requests forwarded, and one warning says why', async () => {
    tlsWarnings.length = 0;
    const url = new URL(tlsUrl('REDIS_TLS_URL'));
    url.searchParams.set('ssl_ca_certs', stranger.caFile);
    const proxy = await createCacheProxy({
      upstream: mes.url,
      port: 0,
      redis: url.toString(),
      keyPrefix: `${uniqueName('tls')}:`,
      registry: new Registry(),
    });
    try {
      const answer = await get(proxy.url, LIST);
      expect(answer.status).toBe(200);
      expect(answer.headers.get('cache-status')).toBe('meskit; fwd=bypass; detail=redis-error');
      await waitFor('the TLS warning', () => tlsWarnings.length > 0);
      expect(tlsWarnings[0]?.message).toMatch(
        new RegExp(
          `cache proxy: Redis index store: TLS verification of 127\\.0\\.0\\.1:${url.port} failed: .*\\[SELF_SIGNED_CERT_IN_CHAIN\\]; trust the CA .*ssl_ca_certs=`,
        ),
      );
    } finally {
      await proxy.close();
    }
    expect(tlsWarnings).toHaveLength(1);
  });

  it('an unreadable ssl_ca_certs is refused at construction', () => {
    const url = new URL(tlsUrl('REDIS_TLS_URL'));
    url.searchParams.set('ssl_ca_certs', join(dir, 'missing.pem'));
    expect(() => createCacheProxy({ upstream: mes.url, redis: url.toString() })).toThrow(
      expect.objectContaining({ code: 'TLS_FILE_UNREADABLE' }),
    );
  });
});
