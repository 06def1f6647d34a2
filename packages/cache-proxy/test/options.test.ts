// Programmer errors are refused at construction, naming the option and what it accepts.
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import {
  createCacheProxy,
  DEFAULTS,
  InvalidOptionError,
  type CacheProxyOptions,
} from '../dist/index.js';

function refused(opts: Partial<CacheProxyOptions>): InvalidOptionError {
  try {
    void createCacheProxy({
      upstream: 'http://127.0.0.1:3000',
      registry: new Registry(),
      ...opts,
    } as CacheProxyOptions);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidOptionError);
    return error as InvalidOptionError;
  }
  throw new Error('createCacheProxy accepted invalid options');
}

describe('createCacheProxy options', () => {
  it.each([
    [{ upstream: 'not a url' }, /upstream must be the MES's base URL/],
    [{ upstream: 'https://mes.example' }, /upstream must be an http:\/\/ URL/],
    [{ upstream: 'http://mes.example/api' }, /upstream must be a base URL without a path/],
    [{ statuses: [] }, /statuses must be a non-empty array/],
    [{ fillDepth: 101 }, /fillDepth must be an integer from 1 to 100/],
    [{ fillDepth: 50, maxDepth: 10 }, /maxDepth must be at least fillDepth/],
    [{ ttlMs: 0 }, /ttlMs must be an integer/],
    [{ upstreamIdleTimeoutMs: 0 }, /upstreamIdleTimeoutMs must be an integer from 1/],
    [{ ttlMs: 60_000, tombstoneTtlMs: 1000 }, /tombstoneTtlMs must be at least ttlMs/],
    [{ port: 70_000 }, /port must be an integer from 0 to 65535/],
    [{ adminToken: 'short' }, /adminToken must be at least 16 characters/],
    [{ redis: 'http://redis' }, /redis must be a valid Redis URL: .* is not a Redis URL/],
    [{ redis: 'redis+sentinel://127.0.0.1:26379' }, /names no master/],
    [{ redis: 'redis+cluster://127.0.0.1:7000/0' }, /a cluster has one database/],
    [{ redis: 'redis+cluster://a:1,b:99999' }, /"b:99999" where a host\[:port\] belongs/],
    [{ redisReplicas: -1 }, /redisReplicas/],
    [{ invalidationWaitMs: 1.5 }, /invalidationWaitMs/],
    [{ sharedAuthorization: 'yes' as unknown as boolean }, /sharedAuthorization must be a boolean/],
  ])('%j is refused', (opts, message) => {
    const error = refused(opts);
    expect(error.code).toBe('INVALID_OPTION');
    expect(error.component).toBe('createCacheProxy');
    expect(opts).toHaveProperty(error.option);
    expect(error.message).toMatch(message);
  });

  it('documents its defaults', () => {
    expect(DEFAULTS).toMatchObject({
      port: 8080,
      statuses: ['MANUFACTURING_APPROVED'],
      fillDepth: 100,
      maxDepth: 1000,
      ttlMs: 60_000,
      sharedAuthorization: false,
    });
  });

  it('close() is safe twice and invalidate() after close() is CLOSED', async () => {
    const proxy = await createCacheProxy({
      upstream: 'http://127.0.0.1:9',
      port: 0,
      registry: new Registry(),
    });
    await proxy.close();
    await proxy.close();
    await expect(proxy.invalidate(1)).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('invalidate() of something that is not an order id is BAD_ARGUMENT', async () => {
    const proxy = await createCacheProxy({
      upstream: 'http://127.0.0.1:9',
      port: 0,
      registry: new Registry(),
    });
    try {
      for (const bad of [0, -3, 1.5, Number.NaN]) {
        await expect(proxy.invalidate(bad)).rejects.toMatchObject({
          name: 'CacheProxyError',
          code: 'BAD_ARGUMENT',
        });
      }
    } finally {
      await proxy.close();
    }
  });

  it('an unreachable MES is answered 502 with a JSON error', async () => {
    const proxy = await createCacheProxy({
      upstream: 'http://127.0.0.1:9',
      port: 0,
      registry: new Registry(),
    });
    try {
      for (const path of ['/api/operators', '/api/orders?status=MANUFACTURING_APPROVED']) {
        const res = await fetch(`${proxy.url}${path}`);
        expect(res.status).toBe(502);
        expect(await res.json()).toMatchObject({ error: { code: 'UPSTREAM_UNAVAILABLE' } });
      }
    } finally {
      await proxy.close();
    }
  });
});
