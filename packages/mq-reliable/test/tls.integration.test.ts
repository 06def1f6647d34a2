// mq-reliable on the run's AMQPS listener (amqps://...?cacertfile=<the run's CA>): a message
// published with confirms reaches a consumer, both over TLS; the admin operations connect the
// same way. With a CA of the test's own, the publisher does not loop silently: its warning and
// ready()'s rejection name the broker and the refused certificate.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTlsFiles, type TlsFiles } from '@meskit/services';
import { deleteConsumerTopology } from '@meskit/testkit';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createConsumer, createPublisher, inspectQueues } from '../dist/index.js';
import { names, waitFor } from './helpers.js';

function amqpTlsUrl(): string {
  const url = inject('services').AMQP_TLS_URL;
  if (!url)
    throw new Error('the services run has no AMQP_TLS_URL (started without TLS): start a new run');
  return url;
}

/** `url` with its CA file replaced. */
function withCa(url: string, caFile: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set('cacertfile', caFile);
  return parsed.toString();
}

let dir: string;
let stranger: TlsFiles;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'meskit-mq-tls-'));
  stranger = createTlsFiles({ dir, name: 'stranger' });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('publisher and consumer over amqps://', () => {
  const { exchange, queue } = names('tls');
  afterAll(async () => {
    await deleteConsumerTopology(inject('services').AMQP_URL!, queue, exchange);
  });

  it('a confirmed publish reaches the consumer; the admin operations connect too', async () => {
    const url = amqpTlsUrl();
    const received: string[] = [];
    const consumer = createConsumer({
      url,
      queue,
      bindings: [{ exchange, pattern: 'order.#' }],
      registry: new Registry(),
      async handler(message) {
        received.push(message.messageId);
      },
    });
    const publisher = createPublisher({
      url,
      registry: new Registry(),
      topology: { exchanges: [{ name: exchange }] },
    });
    try {
      await consumer.ready();
      const result = await publisher.publish(exchange, 'order.approved', { id: 1 });
      expect(publisher.stats().connected).toBe(true);
      await waitFor('the consumer received it', () => received.includes(result.messageId));
      const [report] = await inspectQueues({ url, queues: [queue] });
      expect(report?.queue).toEqual({ queue, messages: 0, consumers: 1 });
    } finally {
      await publisher.close();
      await consumer.close();
    }
  });
});

describe('a CA the broker’s certificate is not signed by', () => {
  it('the publisher warns and ready() rejects, both naming the refused certificate', async () => {
    const url = withCa(amqpTlsUrl(), stranger.caFile);
    const warned = new Promise<Error>((resolve) => {
      const listener = (warning: Error): void => {
        if ((warning as Error & { code?: string }).code !== 'MESKIT_MQ_BROKER_UNAVAILABLE') return;
        process.off('warning', listener);
        resolve(warning);
      };
      process.on('warning', listener);
    });
    const publisher = createPublisher({
      url,
      registry: new Registry(),
      reconnectMinMs: 50,
      reconnectMaxMs: 200,
    });
    try {
      const warning = await warned;
      expect(warning.message).toMatch(
        /TLS_VERIFY_FAILED TLS verification of 127\.0\.0\.1:\d+ failed: .*\[SELF_SIGNED_CERT_IN_CHAIN\]; trust the CA .*cacertfile=/,
      );
      const ready = publisher.ready(1_000);
      await expect(ready).rejects.toThrow(/no RabbitMQ channel .*last failure: TLS_VERIFY_FAILED/);
      expect(publisher.stats().connected).toBe(false);
    } finally {
      await publisher.close();
    }
  });

  it('inspectQueues rejects with the same reason', async () => {
    const url = withCa(amqpTlsUrl(), stranger.caFile);
    await expect(inspectQueues({ url, queues: ['any'] })).rejects.toThrow(
      /cannot connect to RabbitMQ at amqps:\/\/guest:\*\*\*@127\.0\.0\.1:\d+.*TLS verification of 127\.0\.0\.1:\d+ failed/,
    );
  });

  it('an unreadable cacertfile is refused at construction, naming the file', () => {
    expect(() =>
      createPublisher({
        url: withCa(amqpTlsUrl(), join(dir, 'missing.pem')),
        registry: new Registry(),
      }),
    ).toThrow(expect.objectContaining({ code: 'TLS_FILE_UNREADABLE' }));
  });
});
