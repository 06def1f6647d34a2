// The three forms of a Redis URL, and the clear errors for the malformed ones.
import { describe, expect, it } from 'vitest';
import {
  describeRedisTarget,
  optionChecks,
  RedisUrlError,
  redisTarget,
  redisUrlOption,
} from '../dist/index.js';

function refused(url: string): RedisUrlError {
  try {
    redisTarget(url);
  } catch (error) {
    expect(error).toBeInstanceOf(RedisUrlError);
    expect((error as RedisUrlError).code).toBe('REDIS_BAD_URL');
    return error as RedisUrlError;
  }
  throw new Error(`${url} was accepted`);
}

describe('redisTarget', () => {
  it('reads a single Redis as the kernel reads redis:// and rediss://', () => {
    const target = redisTarget('redis://127.0.0.1:6380/2');
    expect(target.topology).toBe('standalone');
    if (target.topology !== 'standalone') return;
    expect(target.tls.enabled).toBe(false);
    expect(target.tls.url).toBe('redis://127.0.0.1:6380/2');
  });

  it('reads Sentinel hosts, the master name, the db and both sets of credentials', () => {
    const target = redisTarget(
      'redis+sentinel://app:p%40ss@10.0.0.1:26379,[::1]:26380,sentinel-c/mes-cache/3?sentinel_password=s3&sentinel_username=watch',
    );
    expect(target).toEqual({
      topology: 'sentinel',
      sentinels: [
        { host: '10.0.0.1', port: 26379 },
        { host: '::1', port: 26380 },
        { host: 'sentinel-c', port: 26379 },
      ],
      name: 'mes-cache',
      db: 3,
      username: 'app',
      password: 'p@ss',
      sentinelUsername: 'watch',
      sentinelPassword: 's3',
    });
    expect(describeRedisTarget(target)).toBe(
      'Sentinel 10.0.0.1:26379,::1:26380,sentinel-c:26379, master mes-cache',
    );
  });

  it('reads Cluster seeds with the default port and a password alone', () => {
    expect(redisTarget('redis+cluster://:pw@a:7000,b')).toEqual({
      topology: 'cluster',
      nodes: [
        { host: 'a', port: 7000 },
        { host: 'b', port: 6379 },
      ],
      password: 'pw',
    });
  });

  it('refuses what it cannot connect to, saying why and never showing the password', () => {
    expect(refused('memcached://x').message).toMatch(/is not a Redis URL: use redis:\/\//);
    expect(refused('redis+sentinel://a:26379').message).toMatch(/names no master/);
    expect(refused('redis+sentinel://a:26379/m/x').message).toMatch(/other than \/<master name>/);
    expect(refused('redis+sentinel:///m').message).toMatch(/names no host/);
    expect(refused('redis+cluster://a:1/0').message).toMatch(/one database/);
    expect(refused('redis+cluster://a:0').message).toMatch(/"a:0" where a host\[:port\]/);
    expect(refused('redis+cluster://a:1?db=2').message).toMatch(/parameter db/);
    expect(refused('redis+sentinel://a/m?ssl_ca_certs=x').message).toMatch(
      /takes sentinel_username, sentinel_password/,
    );
    const tls = refused('rediss+sentinel://u:hunter2@a/m');
    expect(tls.message).toMatch(/TLS .* pass the client instead/);
    expect(tls.message).not.toContain('hunter2');
  });

  it("turns a malformed URL into the factory's invalid-option error", () => {
    const check = optionChecks('createThing');
    expect(() => redisUrlOption(check, 'redis', 'redis+cluster://')).toThrow(
      /createThing: option redis must be a valid Redis URL: .*names no host/,
    );
  });
});
