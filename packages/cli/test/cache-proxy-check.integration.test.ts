// `meskit doctor`'s `cache-proxy` check as users run it: the real binary against a real cache
// proxy (createCacheProxy in this process) in front of a real reference MES, one whose Redis is
// down, the MES itself (no Cache-Status), and a closed port.
import { createCacheProxy, type CacheProxy } from '@meskit/cache-proxy';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedPort, expectCleanExit, runDoctorCheck, runMeskit, soleCheck } from './helpers.js';
import { startReferenceMes, type TestMes } from './reference-mes.js';

let mes: TestMes;
let healthy: CacheProxy;
// Redis on a port nothing listens on: the proxy runs and forwards every list, uncached.
let redisDown: CacheProxy;

beforeAll(async () => {
  mes = await startReferenceMes();
  healthy = await createCacheProxy({ upstream: mes.url, port: 0, registry: new Registry() });
  redisDown = await createCacheProxy({
    upstream: mes.url,
    port: 0,
    redis: `redis://127.0.0.1:${await closedPort()}`,
    registry: new Registry(),
  });
});

afterAll(async () => {
  await healthy?.close();
  await redisDown?.close();
  await mes?.close();
});

const doctor = (url: string) => runDoctorCheck('cache-proxy', ['--cache-proxy-url', url]);

describe('meskit doctor: cache-proxy', () => {
  it('passes when the first page comes back with Cache-Status, and says how it was answered', async () => {
    const endpoint = new URL(healthy.url).host;
    const first = await doctor(healthy.url);
    expectCleanExit(first);
    expect(first.code).toBe(0);
    expect(soleCheck(first, 'cache-proxy')).toMatchObject({
      status: 'pass',
      title: 'Cache proxy',
      message: `the cache proxy at ${endpoint} answers the first page: its index was filled from the MES (Cache-Status: meskit; fwd=miss; stored)`,
      details: { statusCode: 200, cacheStatus: 'meskit; fwd=miss; stored' },
    });
    const second = await runMeskit(['doctor', '--only', 'cache-proxy'], {
      MESKIT_CACHE_PROXY_URL: `${healthy.url}/`,
    });
    expectCleanExit(second);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(
      /^PASS\s+cache-proxy\s+\d+ ms\s+the cache proxy at 127\.0\.0\.1:\d+ answers the first page: served from its index \(Cache-Status: meskit; hit\)$/m,
    );
  });

  it('warns, without failing the run, when the proxy says its store is failing', async () => {
    const result = await doctor(redisDown.url);
    expectCleanExit(result);
    expect(result.code).toBe(0);
    const check = soleCheck(result, 'cache-proxy');
    expect(check.status).toBe('warn');
    expect(check.message).toBe(
      `the cache proxy at ${new URL(redisDown.url).host} answers, but its store (Redis) is failing (Cache-Status: meskit; fwd=bypass; detail=redis-error): the list is forwarded to the MES, uncached and slow, until it recovers; check Redis (meskit doctor --only redis) and meskit_cache_redis_errors_total`,
    );
  });

  it('fails when the URL is the MES itself, which sends no Cache-Status', async () => {
    const result = await doctor(mes.url);
    expectCleanExit(result);
    expect(result.code).toBe(1);
    const check = soleCheck(result, 'cache-proxy');
    expect(check.status).toBe('fail');
    expect(check.message).toMatch(
      /^GET http:\/\/127\.0\.0\.1:\d+\/api\/orders\?status=MANUFACTURING_APPROVED&page=1&pageSize=1 answered 200 OK without a "Cache-Status: meskit" header: not the cache proxy \(the MES itself\?\); point --cache-proxy-url at `meskit cache-proxy` \(port 8080 by default\)$/,
    );
  });

  it('fails with a one-line reason when nothing listens, without printing passwords', async () => {
    const port = await closedPort();
    const result = await runMeskit(['doctor', '--only', 'cache-proxy'], {
      MESKIT_CACHE_PROXY_URL: `http://user:hunter22@127.0.0.1:${port}`,
    });
    expectCleanExit(result);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(
      new RegExp(
        `^FAIL\\s+cache-proxy\\s+\\d+ ms\\s+cannot reach the cache proxy at 127\\.0\\.0\\.1:${port}: connection refused \\(is \`meskit cache-proxy\` running there\\?\\)$`,
        'm',
      ),
    );
    expect(result.stdout + result.stderr).not.toContain('hunter22');
  });

  it('skips when not configured, naming the flag and the variable', async () => {
    const result = await runMeskit(['doctor', '--json', '--only', 'cache-proxy']);
    expectCleanExit(result);
    expect(result.code).toBe(0);
    expect(soleCheck(result, 'cache-proxy')).toMatchObject({
      status: 'skip',
      message: 'not configured: pass --cache-proxy-url or set MESKIT_CACHE_PROXY_URL',
    });
  });

  it('refuses a URL that is not http(s) before running anything (exit 2)', async () => {
    const result = await runMeskit(['doctor', '--cache-proxy-url', 'redis://127.0.0.1:6379']);
    expectCleanExit(result);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      'invalid --cache-proxy-url: expected a URL starting with http:// or https://, got "redis://127.0.0.1:6379"',
    );
  });
});
