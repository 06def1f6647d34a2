// `meskit doctor --only redis` on Redis behind Sentinel and on a Redis Cluster: the group's
// health passes, a group that lost its replica warns (a failover would have nothing to
// promote), one no Sentinel answers for fails, saying so.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedisCluster, startRedisSentinel } from '@meskit/services';
import { afterAll, describe, expect, it } from 'vitest';
import { closedPort, expectCleanExit, runDoctorCheck, soleCheck } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'meskit-doctor-ha-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('meskit doctor on replicated Redis', () => {
  it('reports a Sentinel group: the master all Sentinels name, its replica; warns without one', async () => {
    const group = await startRedisSentinel({ dir: join(dir, 'sentinel') });
    try {
      const healthy = await runDoctorCheck('redis', ['--redis-url', group.url]);
      expectCleanExit(healthy);
      expect(healthy.code).toBe(0);
      const master = await group.masterServer();
      expect(soleCheck(healthy, 'redis')).toMatchObject({
        status: 'pass',
        message: `Sentinel: 3 of 3 Sentinels name 127.0.0.1:${master.port} as master meskit; it answers as master with 1 replica`,
        details: { topology: 'sentinel', replicas: 1, agreeing: 3 },
      });

      for (const replica of group.servers.filter((s) => s !== master)) await replica.kill();
      // The master notices its replica is gone within its repl-timeout; INFO says so at once
      // for a replica that was killed (its connection closed).
      const lonely = await runDoctorCheck('redis', ['--redis-url', group.url]);
      expectCleanExit(lonely);
      expect(lonely.code).toBe(0); // a warning does not fail doctor
      expect(soleCheck(lonely, 'redis')).toMatchObject({
        status: 'warn',
        message: expect.stringMatching(/no replica: a failover would have nothing to promote$/),
      });
    } finally {
      await group.close();
    }
  });

  it('fails when no Sentinel answers, naming each', async () => {
    const port = await closedPort();
    const result = await runDoctorCheck('redis', [
      '--redis-url',
      `redis+sentinel://127.0.0.1:${port}/meskit`,
    ]);
    expectCleanExit(result);
    expect(result.code).toBe(1);
    expect(soleCheck(result, 'redis')).toMatchObject({
      status: 'fail',
      message: expect.stringMatching(
        new RegExp(
          `^no Sentinel names a master meskit \\(127\\.0\\.0\\.1:${port}: connection refused\\)$`,
        ),
      ),
    });
  });

  it('reports a cluster: ok, three masters, each with a replica', async () => {
    const cluster = await startRedisCluster({ dir: join(dir, 'cluster') });
    try {
      const result = await runDoctorCheck('redis', ['--redis-url', cluster.url]);
      expectCleanExit(result);
      expect(result.code).toBe(0);
      expect(soleCheck(result, 'redis')).toMatchObject({
        status: 'pass',
        message: expect.stringMatching(
          /^Cluster via 127\.0\.0\.1:\d+: state ok, 3 masters serving slots, 3 with a replica$/,
        ),
        details: { topology: 'cluster', state: 'ok', masters: 3, mastersWithReplica: 3 },
      });
    } finally {
      await cluster.close();
    }
  });
});
