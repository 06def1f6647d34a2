// A RabbitMQ of its own (the suite's shared one must not die under other test files), SIGKILLed
// and started again twice while messages are published: every publish settles (confirmed or a
// typed error the caller saw) and every confirmed message is in the queue afterwards (0 lost).
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRabbitMq, type RabbitMqServer } from '@meskit/services';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPublisher, type Publisher } from '../dist/index.js';
import { drain, waitFor } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'meskit-mq-kill-'));
let broker: RabbitMqServer;
let publisher: Publisher | undefined;

beforeAll(async () => {
  // RabbitMQ runs as its own user when started by root and must traverse this folder.
  chmodSync(dir, 0o755);
  broker = await startRabbitMq({ dir });
}, 120_000);

afterAll(async () => {
  await publisher?.close();
  await broker?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the broker SIGKILLed and restarted during publishing', () => {
  it(
    'every publish settles, and every confirmed message survives',
    { timeout: 180_000 },
    async () => {
      const exchange = 'test.kill.x';
      const queue = 'test.kill.q';
      publisher = createPublisher({
        url: broker.url,
        registry: new Registry(),
        topology: {
          exchanges: [{ name: exchange }],
          // Classic here: a single node's quorum queue did not come back after SIGKILL in this
          // test (confirms never arrived); the 3-node quorum case is the cluster test.
          queues: [{ name: queue, type: 'classic' }],
          bindings: [{ queue, exchange, pattern: '#' }],
        },
        timeoutMs: 60_000,
        reconnectMinMs: 50,
        reconnectMaxMs: 500,
        heartbeatSeconds: 2,
      });
      await publisher.ready(30_000);
      const p = publisher;
      const outcomes = new Map<string, 'confirmed' | string>();
      const all: Promise<void>[] = [];
      const send = (i: number): void => {
        const id = `k-${i}`;
        all.push(
          p.publish(exchange, 'order.k', `k${i}`, { messageId: id }).then(
            () => void outcomes.set(id, 'confirmed'),
            (error: Error & { code?: string }) => void outcomes.set(id, error.code ?? 'untyped'),
          ),
        );
      };
      let next = 0;
      for (let kill = 0; kill < 2; kill++) {
        const target = next + 1_000;
        for (; next < target; next++) send(next);
        await waitFor(
          `some confirmed before kill ${kill + 1}`,
          () => p.stats().outcomes.confirmed > kill * 1_200 + 100,
          { timeoutMs: 60_000 },
        ).catch((error: Error) => {
          throw new Error(`${error.message}: ${JSON.stringify(p.stats())}`);
        });
        await broker.kill();
        for (const end = next + 200; next < end; next++) send(next); // published while it is down
        await broker.start();
        await waitFor('reconnected', () => p.stats().reconnects === kill + 1, {
          timeoutMs: 60_000,
        });
      }
      await Promise.all(all);
      expect(outcomes.size).toBe(next);
      const failed = [...outcomes].filter(([, outcome]) => outcome !== 'confirmed');
      // Any failure is a typed one the caller saw; with a restart inside the timeout there is none.
      expect(failed).toEqual([]);
      const reader = await drain(broker.url, queue);
      try {
        await waitFor('every confirmed message consumed', () => new Set(reader.ids).size >= next, {
          timeoutMs: 60_000,
        });
        const confirmed = [...outcomes].filter(([, o]) => o === 'confirmed').map(([id]) => id);
        const received = new Set(reader.ids);
        expect(confirmed.filter((id) => !received.has(id))).toEqual([]);
      } finally {
        await reader.close(exchange);
      }
    },
  );
});
