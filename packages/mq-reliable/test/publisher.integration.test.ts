// Confirmed publishing on the real RabbitMQ: a confirm per message with a stable message-id,
// typed errors for what the broker refuses (unroutable, missing exchange), a bounded buffer
// while the broker is unreachable, and the same message-id sent again when a connection dies
// before its confirm. Nothing hangs: every publish settles within its timeout.
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createPublisher, PublishError, type Publisher } from '../dist/index.js';
import { deadPort, drain, names, serviceUrls, startRelay, waitFor } from './helpers.js';

const publishers: Publisher[] = [];
function publisher(opts: Omit<Parameters<typeof createPublisher>[0], 'registry'>): Publisher {
  const created = createPublisher({ registry: new Registry(), ...opts });
  publishers.push(created);
  return created;
}
afterEach(async () => {
  await Promise.all(publishers.splice(0).map((p) => p.close()));
});

function topology(exchange: string, queue: string) {
  return {
    exchanges: [{ name: exchange }],
    queues: [{ name: queue }],
    bindings: [{ queue, exchange, pattern: 'order.#' }],
  };
}

describe('createPublisher on the real RabbitMQ', () => {
  it('resolves on the confirm; every message arrives once with its message-id header', async () => {
    const { exchange, queue } = names('confirm');
    const p = publisher({ url: serviceUrls().amqpUrl, topology: topology(exchange, queue) });
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        p.publish(exchange, 'order.created', { n: i }, { messageId: `m-${i}` }),
      ),
    );
    expect(results.map((r) => r.messageId)).toEqual(results.map((_, i) => `m-${i}`));
    const reader = await drain(serviceUrls().amqpUrl, queue);
    try {
      await waitFor('200 messages consumed', () => reader.ids.length >= 200);
      expect(new Set(reader.ids).size).toBe(200);
      expect(JSON.parse(reader.bodies[7]!)).toEqual({ n: 7 });
      expect(p.stats()).toMatchObject({ connected: true, unconfirmed: 0 });
      expect(p.stats().outcomes.confirmed).toBe(200);
    } finally {
      await reader.close(exchange);
    }
  });

  it('an unroutable message rejects UNROUTABLE; a missing exchange NO_EXCHANGE; the publisher goes on', async () => {
    const { exchange, queue } = names('refused');
    const p = publisher({ url: serviceUrls().amqpUrl, topology: topology(exchange, queue) });
    await expect(
      p.publish(exchange, 'nobody.listens', 'x', { messageId: 'lost' }),
    ).rejects.toMatchObject({
      name: 'PublishError',
      code: 'UNROUTABLE',
      messageId: 'lost',
    });
    const missing = p.publish(`${exchange}.missing`, 'order.x', 'x', { messageId: 'no-ex' });
    await expect(missing).rejects.toBeInstanceOf(PublishError);
    await expect(missing).rejects.toMatchObject({ code: 'NO_EXCHANGE', messageId: 'no-ex' });
    // The channel the broker closed is replaced: later publishes are confirmed.
    await expect(p.publish(exchange, 'order.ok', 'y')).resolves.toMatchObject({ attempts: 1 });
    expect(p.stats().outcomes).toMatchObject({ unroutable: 1, no_exchange: 1, confirmed: 1 });
    const reader = await drain(serviceUrls().amqpUrl, queue);
    await reader.close(exchange);
  });

  it('an unreachable broker: publishes wait in the bounded buffer and time out, none hangs', async () => {
    const p = publisher({
      url: `amqp://guest:guest@127.0.0.1:${await deadPort()}`,
      timeoutMs: 300,
      buffer: { maxMessages: 3 },
      reconnectMinMs: 20,
      reconnectMaxMs: 50,
    });
    const waiting = [0, 1, 2].map((i) => p.publish('x', 'k', `b${i}`));
    await expect(p.publish('x', 'k', 'overflow')).rejects.toMatchObject({ code: 'BUFFER_FULL' });
    expect(p.stats().unconfirmed).toBe(3);
    for (const w of waiting) await expect(w).rejects.toMatchObject({ code: 'TIMEOUT' });
    expect(p.stats()).toMatchObject({ connected: false, unconfirmed: 0 });
  });

  it('a nacked message is sent again until the broker takes it (here: once the full queue has room)', async () => {
    const { exchange, queue } = names('nack');
    const p = publisher({
      url: serviceUrls().amqpUrl,
      topology: {
        exchanges: [{ name: exchange }],
        // One message at most; more are refused with a nack.
        queues: [
          {
            name: queue,
            type: 'classic',
            arguments: { 'x-max-length': 1, 'x-overflow': 'reject-publish' },
          },
        ],
        bindings: [{ queue, exchange, pattern: '#' }],
      },
      timeoutMs: 20_000,
    });
    await p.publish(exchange, 'order.a', 'first', { messageId: 'first' });
    const second = p.publish(exchange, 'order.b', 'second', { messageId: 'second' });
    await waitFor('the second resent after nacks', () => p.stats().resent >= 2);
    const reader = await drain(serviceUrls().amqpUrl, queue); // makes room
    try {
      await expect(second).resolves.toMatchObject({ messageId: 'second' });
      await waitFor('both consumed', () => reader.ids.length === 2);
      expect(reader.ids).toEqual(['first', 'second']);
    } finally {
      await reader.close(exchange);
    }
  });

  it("a publish's own shorter timeoutMs ends it first, the others keep waiting", async () => {
    const p = publisher({
      url: `amqp://guest:guest@127.0.0.1:${await deadPort()}`,
      timeoutMs: 2_000, // close() in afterEach waits for it
    });
    const long = p.publish('x', 'k', 'long', { messageId: 'long' });
    void long.catch(() => undefined);
    await expect(
      p.publish('x', 'k', 'short', { messageId: 'short', timeoutMs: 50 }),
    ).rejects.toMatchObject({ code: 'TIMEOUT', messageId: 'short' });
    expect(p.stats()).toMatchObject({ unconfirmed: 1 }); // "long" still waits
    expect(p.stats().outcomes.timeout).toBe(1);
  });

  it("buffer.overflow 'block' waits for room instead of refusing", async () => {
    const { exchange, queue } = names('block');
    const p = publisher({
      url: serviceUrls().amqpUrl,
      topology: topology(exchange, queue),
      buffer: { maxMessages: 2, overflow: 'block' },
    });
    const all = await Promise.all(
      Array.from({ length: 20 }, (_, i) => p.publish(exchange, 'order.b', `b${i}`)),
    );
    expect(all).toHaveLength(20);
    expect(p.stats().outcomes.buffer_full).toBe(0);
    const reader = await drain(serviceUrls().amqpUrl, queue);
    await waitFor('20 consumed', () => reader.ids.length >= 20);
    await reader.close(exchange);
  });

  it('connections cut before the confirms: the same message-ids are sent again, none is lost', async () => {
    const { exchange, queue } = names('resend');
    const relay = await startRelay(serviceUrls().amqpUrl);
    const p = publisher({
      url: relay.url,
      topology: topology(exchange, queue),
      reconnectMinMs: 20,
      reconnectMaxMs: 100,
    });
    await p.ready();
    const rounds = 5;
    const perRound = 400;
    const total = rounds * perRound;
    const published: Promise<unknown>[] = [];
    for (let round = 0; round < rounds; round++) {
      for (let i = round * perRound; i < (round + 1) * perRound; i++) {
        published.push(p.publish(exchange, 'order.r', `r${i}`, { messageId: `r-${i}` }));
      }
      // Cut once some of this round are confirmed and the rest are still outstanding.
      const confirmedBefore = round * perRound;
      await waitFor('some of the round confirmed', () => {
        return p.stats().outcomes.confirmed > confirmedBefore + 20 || p.stats().unconfirmed === 0;
      });
      relay.cut();
      await waitFor('the publisher reconnected', () => p.stats().reconnects === round + 1);
    }
    const settled = await Promise.allSettled(published);
    expect(settled.filter((s) => s.status === 'rejected')).toEqual([]);
    expect(p.stats().reconnects).toBe(rounds);
    expect(p.stats().outcomes.confirmed).toBe(total);
    const reader = await drain(serviceUrls().amqpUrl, queue);
    try {
      await waitFor('every confirmed message consumed', () => new Set(reader.ids).size >= total);
      expect(new Set(reader.ids)).toEqual(
        new Set(Array.from({ length: total }, (_, i) => `r-${i}`)),
      );
    } finally {
      await reader.close(exchange);
      await relay.close();
    }
  });

  it('close() waits for outstanding confirms, then refuses new publishes as CLOSED', async () => {
    const { exchange, queue } = names('close');
    const p = publisher({ url: serviceUrls().amqpUrl, topology: topology(exchange, queue) });
    const inFlight = Array.from({ length: 50 }, (_, i) => p.publish(exchange, 'order.c', `c${i}`));
    await p.close();
    await p.close();
    for (const r of await Promise.allSettled(inFlight)) expect(r.status).toBe('fulfilled');
    await expect(p.publish(exchange, 'order.c', 'late')).rejects.toMatchObject({ code: 'CLOSED' });
    const reader = await drain(serviceUrls().amqpUrl, queue);
    await waitFor('50 consumed', () => reader.ids.length >= 50);
    await reader.close(exchange);
  });
});
