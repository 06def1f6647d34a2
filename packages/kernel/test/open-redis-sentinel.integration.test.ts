// openRedis through Sentinel, when the Sentinels announce a new master while the client is
// already reconnecting: the previous connection's failover detector then disconnects the
// connector in the middle of its lookup, the lookup throws "Connection is closed.", and ioredis
// ends the client for good (status 'end', no retry). Seen as a cache proxy that never wrote to
// Redis again after a failover under load. Forced here without a failover: the detector's
// disconnect at the start of the reconnect, and the socket closed as a killed master's is.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedisSentinel, type RedisSentinelGroup } from '@meskit/services';
import { waitFor } from '@meskit/testkit';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRedis, quitRedis, redisTarget } from '../dist/index.js';

const dir = mkdtempSync(join(tmpdir(), 'meskit-kernel-sentinel-'));
let group: RedisSentinelGroup;
beforeAll(async () => {
  group = await startRedisSentinel({ dir });
}, 60_000);
afterAll(async () => {
  await group?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** ioredis's Sentinel connector, as far as this test reaches into it. */
interface SentinelInternals {
  connector: {
    stream?: { destroy(): void };
    failoverDetector?: { disconnect(): void };
  };
}

describe('openRedis through Sentinel', () => {
  it('a failover announced while the client reconnects does not end the client', async () => {
    const client = openRedis(redisTarget(group.url), {
      connectionName: 'meskit-kernel-sentinel-test',
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
    }) as Redis;
    client.on('error', () => undefined);
    let ended = false;
    client.on('end', () => (ended = true));
    try {
      await waitFor('ready', () => client.status === 'ready');
      // The detector subscribes once the connection is up: it exists before the test goes on.
      const { connector } = client as unknown as SentinelInternals;
      await waitFor('the failover detector', () => connector.failoverDetector !== undefined);
      const detector = connector.failoverDetector!;
      // '+switch-master' arrives while the client asks the Sentinels where the master is.
      let connecting = 0;
      client.once('connecting', () => {
        connecting += 1;
        detector.disconnect();
      });
      let readyAgain = false;
      client.once('ready', () => (readyAgain = true));
      connector.stream!.destroy(); // the master's side closed, as a SIGKILL does
      await waitFor('ready again, or ended', () => readyAgain || ended, {
        hint: () => `status ${client.status}`,
      });
      expect(connecting).toBe(1); // the lookup was cut short, as forced
      expect({ status: client.status, ended }).toEqual({ status: 'ready', ended: false });
      expect(await client.set('meskit:kernel:sentinel', '1')).toBe('OK');
    } finally {
      await quitRedis(client, 1_000);
    }
  }, 60_000);
});
