// The fault test on a 3-node RabbitMQ cluster on loopback (scripts/services), quorum queues:
// each node in turn SIGKILLed under load and started again (it rejoins before the next is
// killed: a quorum needs two of three). The clients know every node's URL and move to the
// next; 0 lost, 0 duplicate effects.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRabbitCluster, type RabbitMqCluster } from '@meskit/services';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFaultScenario } from './fault-scenario.js';
import { createTestDatabase } from './helpers.js';

const TOTAL = 20_000;
const dir = mkdtempSync(join(tmpdir(), 'meskit-mq-cluster-'));
let cluster: RabbitMqCluster;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let pool: pg.Pool;
const closers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  chmodSync(dir, 0o755); // the nodes run as the rabbitmq user when started by root
  cluster = await startRabbitCluster({ dir, nodes: 3 });
  db = await createTestDatabase('mq_cluster');
  pool = new pg.Pool({ connectionString: db.url, max: 10 });
  pool.on('error', () => undefined);
}, 180_000);

afterAll(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
  await cluster?.close();
  await pool?.end();
  await db?.drop();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe('a 3-node cluster, one node SIGKILLed at a time', () => {
  it('loses none, and the inbox leaves no duplicate effect', { timeout: 300_000 }, async () => {
    const killed: string[] = [];
    const bounce = (n: number) => async () => {
      const node = cluster.nodes[n]!;
      await node.kill();
      killed.push(node.nodeName);
      await node.start();
      await cluster.waitForRunningNodes(cluster.nodes, { timeoutMs: 90_000 });
    };
    const result = await runFaultScenario({
      pool,
      urls: cluster.urls,
      queueType: 'quorum',
      total: TOTAL,
      exchange: 'test.cluster.x',
      queue: 'test.cluster.q',
      faults: [bounce(0), bounce(1), bounce(2)],
      closers,
    });
    expect(killed).toHaveLength(3);
    expect(result.outcomes.size).toBe(TOTAL / 2);
    // A publish may fail with an error its caller saw (none did here); the rest are confirmed.
    const failed = [...result.outcomes].filter(([, o]) => o !== 'confirmed');
    expect(failed).toEqual([]);
    expect(result.committed).toHaveLength(TOTAL / 2);
    const expected = [...result.outcomes.keys(), ...result.committed];
    expect(expected.filter((id) => !result.effects.ids.has(id))).toEqual([]); // 0 lost
    expect(result.effects).toMatchObject({ total: TOTAL, distinct: TOTAL }); // 0 duplicate effects
    console.log(
      `cluster faults: ${JSON.stringify({
        resent: result.stats.direct.resent + result.stats.relay.resent,
        duplicatesSkipped: result.stats.consumer.outcomes.duplicate,
        reconnects: [
          result.stats.direct.reconnects,
          result.stats.relay.reconnects,
          result.stats.consumer.reconnects,
        ],
        outbox: result.stats.outbox,
      })}`,
    );
  });
});
