// The operations behind `meskit mq stats` and `meskit mq dlq list|replay`, on the real
// RabbitMQ: a consumer's queues inspected, its dead letters listed (and left in place), and
// replayed to where they were first published with their original message-id.
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createConsumer,
  createPublisher,
  inspectQueues,
  listDeadLetters,
  replayDeadLetters,
} from '../dist/index.js';
import { names, serviceUrls, waitFor } from './helpers.js';
import { deleteConsumerTopology } from '@meskit/testkit';

const { exchange, queue } = names('admin');
const url = serviceUrls().amqpUrl;
let failing = true;
const handled: string[] = [];
const consumer = createConsumer({
  url,
  queue,
  bindings: [{ exchange, pattern: 'order.#' }],
  registry: new Registry(),
  retry: { delaysMs: [] },
  async handler(message) {
    if (failing) throw Object.assign(new Error('the CRM is down'), { code: 'CRM_DOWN' });
    handled.push(message.messageId);
  },
});
const publisher = createPublisher({
  url,
  registry: new Registry(),
  topology: { exchanges: [{ name: exchange }] },
});

afterAll(async () => {
  await consumer.close();
  await publisher.close();
  await deleteConsumerTopology(url, queue, exchange);
});

describe('queue operations', () => {
  it('inspects, lists and replays dead letters with their message-id', async () => {
    await consumer.ready();
    for (const id of ['dl-1', 'dl-2', 'dl-3'])
      await publisher.publish(exchange, 'order.approved', { id }, { messageId: id });
    await waitFor('three dead-lettered', () => consumer.stats().outcomes.dead_lettered === 3);

    const [report] = await inspectQueues({ url, queues: [queue] });
    expect(report).toEqual({
      queue: { queue, messages: 0, consumers: 1 },
      retries: [],
      deadLetters: { queue: `${queue}.dlq`, messages: 3, consumers: 0 },
    });
    const [missing] = await inspectQueues({ url, queues: ['test.no-such-queue'] });
    expect(missing?.queue.messages).toBeUndefined();

    const letters = await listDeadLetters({ url, queue, limit: 2 });
    expect(letters).toHaveLength(2);
    expect(letters[0]).toMatchObject({
      messageId: 'dl-1',
      exchange,
      routingKey: 'order.approved',
      errorCode: 'CRM_DOWN',
      body: '{"id":"dl-1"}',
    });
    expect(letters[0]?.error).toContain('the CRM is down');
    // Listing leaves them where they were.
    await waitFor('the listed letters back in the queue', async () => {
      const [again] = await inspectQueues({ url, queues: [queue] });
      return again?.deadLetters.messages === 3;
    });

    failing = false;
    const one = await replayDeadLetters({ url, queue, messageId: 'dl-2' });
    expect(one.replayed.map((l) => l.messageId)).toEqual(['dl-2']);
    await waitFor('dl-2 handled', () => handled.includes('dl-2'));
    const rest = await replayDeadLetters({ url, queue });
    expect(rest.replayed.map((l) => l.messageId).sort()).toEqual(['dl-1', 'dl-3']);
    expect(rest.failed).toEqual([]);
    await waitFor('all handled', () => handled.length === 3);
    expect(handled.sort()).toEqual(['dl-1', 'dl-2', 'dl-3']);
    const [after] = await inspectQueues({ url, queues: [queue] });
    expect(after?.deadLetters.messages).toBe(0);
  });
});
