// boundedRedis on the real Redis: answers pass through, a command that does not answer in time
// rejects, and a client whose connection is down is refused at once instead of queueing.
import { Redis } from 'ioredis';
import { deadPort, serviceUrls, waitFor } from '@meskit/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { boundedRedis, quitRedis, redisDown } from '../dist/index.js';

let redis: Redis;
beforeAll(() => {
  redis = new Redis(serviceUrls().redisUrl, { connectionName: 'meskit-kernel-test' });
});
afterAll(async () => {
  await redis?.quit();
});

describe('boundedRedis', () => {
  it('passes the answer through', async () => {
    const bounded = boundedRedis(redis, 1_000);
    expect(await bounded('PING', () => redis.ping())).toBe('PONG');
  });

  it('rejects once the budget passes, naming the operation', async () => {
    const blocked = new Redis(serviceUrls().redisUrl);
    try {
      const bounded = boundedRedis(blocked, 100);
      // BLPOP on a key nobody pushes to answers only after its own 2 s timeout.
      const attempt = bounded('BLPOP', () => blocked.blpop(`meskit:kernel:none:${Date.now()}`, 2));
      await expect(attempt).rejects.toThrow('Redis did not answer BLPOP within 100 ms');
    } finally {
      blocked.disconnect();
    }
  });

  it('a command that throws before sending rejects (no stray timer, no unhandled rejection)', async () => {
    const attempt = boundedRedis(redis, 50)('EVAL', () => {
      throw new Error('bad script arguments');
    });
    await expect(attempt).rejects.toThrow('bad script arguments');
  });

  it('refuses at once while the connection is down', async () => {
    const down = new Redis(serviceUrls().redisUrl, { lazyConnect: true });
    down.disconnect();
    expect(redisDown(down)).toBe(true);
    let sent = false;
    const attempt = boundedRedis(down, 60_000)('GET', () => {
      sent = true;
      return down.get('x');
    });
    await expect(attempt).rejects.toThrow(/Redis connection is (end|close)/);
    expect(sent).toBe(false);
  });
});

describe('quitRedis', () => {
  it('quits a connected client, and disconnects one whose server is gone', async () => {
    const connected = new Redis(serviceUrls().redisUrl);
    await connected.ping();
    await quitRedis(connected, 1_000);
    await waitFor('the quit client has ended', () => connected.status === 'end');

    const unreachable = new Redis(`redis://127.0.0.1:${await deadPort()}`, {
      retryStrategy: () => 50,
      maxRetriesPerRequest: 0,
    });
    unreachable.on('error', () => undefined);
    await quitRedis(unreachable, 200);
    await waitFor('the client has ended', () => unreachable.status === 'end');
  });
});
