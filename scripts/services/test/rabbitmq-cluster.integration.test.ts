import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRabbitCluster, type RabbitMqCluster, type RabbitMqServer } from '@meskit/services';

/** Polls `probe` until it returns a value, or fails naming `what` and the last error. */
async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${what} did not happen in ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function connect(url: string): Promise<amqp.ChannelModel> {
  const connection = await amqp.connect(url);
  connection.on('error', () => {});
  return connection;
}

/** Publishes persistent messages on a confirm channel and waits for the broker's confirms. */
async function publishConfirmed(channel: amqp.ConfirmChannel, queue: string, bodies: string[]) {
  for (const body of bodies) channel.sendToQueue(queue, Buffer.from(body), { persistent: true });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      channel.waitForConfirms(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no confirms for ${bodies.join(', ')}`)), 30_000);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Gets (and acks) `count` messages from the queue, waiting for them to be there. */
async function take(channel: amqp.Channel, queue: string, count: number): Promise<string[]> {
  const bodies: string[] = [];
  await eventually(`${count} messages on ${queue}`, async () => {
    const message = await channel.get(queue, { noAck: true });
    if (message) bodies.push(message.content.toString());
    return bodies.length >= count ? true : undefined;
  });
  return bodies;
}

interface QueueRow {
  name: string;
  leader: string;
  members: string[];
}

async function queueRow(via: RabbitMqServer, queue: string): Promise<QueueRow | undefined> {
  const out = await via.ctl(['list_queues', 'name', 'leader', 'members', '--formatter', 'json']);
  return (JSON.parse(out) as QueueRow[]).find((row) => row.name === queue);
}

interface RaftMember {
  node: string;
  state: string;
  commitIndex: number;
}

/** The members of a quorum queue as `via` reports them: Raft state and commit index. */
async function raftMembers(via: RabbitMqServer, queue: string): Promise<RaftMember[]> {
  const out = await via.ctl(['quorum_status', queue, '--formatter', 'json'], {
    tool: 'rabbitmq-queues',
  });
  const rows = JSON.parse(out) as Record<string, unknown>[];
  return rows.map((row) => ({
    node: String(row['Node Name']),
    state: String(row['Raft State']),
    commitIndex: Number(row['Commit Index']),
  }));
}

describe('a three-node RabbitMQ cluster on loopback', () => {
  let dir: string | undefined;
  let cluster: RabbitMqCluster | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'meskit-rabbit-cluster-'));
    // The nodes run as the rabbitmq user when we are root: it must be able to enter.
    chmodSync(dir, 0o755);
    cluster = await startRabbitCluster({ dir, nodes: 3 });
  }, 120_000);

  afterAll(async () => {
    await cluster?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('runs three nodes that listen on 127.0.0.1 only', async () => {
    const { nodes, nodeNames, urls } = cluster!;
    expect(nodes).toHaveLength(3);
    expect(urls).toHaveLength(3);
    expect(new Set(nodes.map((node) => node.ports.epmd)).size).toBe(1);
    const status = JSON.parse(await nodes[1]!.ctl(['cluster_status', '--formatter', 'json'])) as {
      running_nodes: string[];
      listeners: Record<string, { interface: string; protocol: string }[]>;
    };
    expect([...status.running_nodes].sort()).toEqual([...nodeNames].sort());
    const listeners = Object.values(status.listeners).flat();
    expect(listeners.map((l) => l.protocol).sort()).toEqual([
      'amqp',
      'amqp',
      'amqp',
      'clustering',
      'clustering',
      'clustering',
    ]);
    expect(new Set(listeners.map((l) => l.interface))).toEqual(new Set(['127.0.0.1']));
  });

  it('keeps a quorum queue going when its leader node is SIGKILLed, and takes the node back', async () => {
    const [node1, node2] = cluster!.nodes as [RabbitMqServer, RabbitMqServer, RabbitMqServer];
    const queue = `cluster-quorum-${process.pid}-${Date.now()}`;

    const first = await connect(node1.url);
    const firstClosed = new Promise((resolve) => first.once('close', resolve));
    const onNode1 = await first.createConfirmChannel();
    onNode1.on('error', () => {});
    await onNode1.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    await publishConfirmed(onNode1, queue, ['before the kill']);
    const declared = await eventually('the queue in list_queues', () => queueRow(node2, queue));
    // Declared through node 1: its leader is there (client-local), with a member on each node.
    expect(declared.leader).toBe(node1.nodeName);
    expect([...declared.members].sort()).toEqual([...cluster!.nodeNames].sort());

    await node1.kill();
    await firstClosed;

    const second = await connect(node2.url);
    try {
      // Nodes 2 and 3 elect a leader between them. Until then RabbitMQ 3.10 nacks publishes
      // to the queue, so wait for the election rather than for a confirm.
      const moved = await eventually('a new leader', async () => {
        const row = await queueRow(node2, queue);
        return row && row.leader !== node1.nodeName ? row : undefined;
      });
      expect(cluster!.nodeNames).toContain(moved.leader);
      const onNode2 = await second.createConfirmChannel();
      await publishConfirmed(onNode2, queue, ['after the kill']);
      expect(await take(onNode2, queue, 2)).toEqual(['before the kill', 'after the kill']);
    } finally {
      await second.close();
    }

    await node1.start();
    await cluster!.waitForRunningNodes();
    expect(await cluster!.runningNodes(node1)).toEqual([...cluster!.nodeNames].sort());
    // Node 1's member of the queue is back in its Raft group, caught up with the leader...
    const members = await eventually('node 1 to catch up on the queue', async () => {
      const rows = await raftMembers(node1, queue);
      const commits = new Set(rows.map((row) => row.commitIndex));
      const healthy = rows.every((row) => row.state === 'leader' || row.state === 'follower');
      return rows.length === 3 && healthy && commits.size === 1 ? rows : undefined;
    });
    expect(members.find((row) => row.node === node1.nodeName)?.state).toBe('follower');
    // ...and node 1 serves the queue again.
    const third = await connect(node1.url);
    try {
      const again = await third.createConfirmChannel();
      await publishConfirmed(again, queue, ['after the restart']);
      expect(await take(again, queue, 1)).toEqual(['after the restart']);
      await again.deleteQueue(queue);
    } finally {
      await third.close();
    }
  }, 90_000);
});
