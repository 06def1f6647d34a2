// `meskit mq stats|dlq list|dlq replay` and the `mq` doctor check against the real RabbitMQ
// and PostgreSQL, beside a running mq-reliable consumer whose handler fails until told not to.
import { createConsumer, createOutbox, createPublisher } from '@meskit/mq-reliable';
import {
  deleteConsumerTopology,
  createTestDatabase,
  serviceUrls,
  uniqueName,
  waitFor,
} from '@meskit/testkit';
import pg from 'pg';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedPort, runDoctorCheck, runMeskit, soleCheck } from './helpers.js';

const url = serviceUrls().amqpUrl;
const queue = uniqueName('test.cli-mq.q');
const exchange = uniqueName('test.cli-mq.x');
let failing = true;
const handled: string[] = [];
const consumer = createConsumer({
  url,
  queue,
  bindings: [{ exchange, pattern: 'order.#' }],
  registry: new Registry(),
  retry: { delaysMs: [] },
  async handler(message) {
    if (failing) throw Object.assign(new Error('no stock'), { code: 'NO_STOCK' });
    handled.push(message.messageId);
  },
});
const publisher = createPublisher({
  url,
  registry: new Registry(),
  topology: { exchanges: [{ name: exchange }] },
});
let db: Awaited<ReturnType<typeof createTestDatabase>>;

beforeAll(async () => {
  db = await createTestDatabase('cli_mq');
  const pool = new pg.Pool({ connectionString: db.url, max: 1 });
  await createOutbox({ pool, registry: new Registry() }).migrate();
  await pool.end();
  await consumer.ready();
  for (const id of ['m-1', 'm-2'])
    await publisher.publish(exchange, 'order.approved', { id }, { messageId: id });
  await waitFor('both dead-lettered', () => consumer.stats().outcomes.dead_lettered === 2);
});
afterAll(async () => {
  await consumer.close();
  await publisher.close();
  await db?.drop();
  await deleteConsumerTopology(url, queue, exchange);
});

describe('meskit mq', () => {
  it('stats: depth, consumers and dead letters of each queue, and the outbox backlog', async () => {
    const json = await runMeskit(['mq', 'stats', '--queue', queue, '--json'], {
      AMQP_URL: url,
      DATABASE_URL: db.url,
    });
    expect(json.stderr).toBe('');
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({
      queues: [
        {
          queue: { queue, messages: 0, consumers: 1 },
          retries: [],
          deadLetters: { queue: `${queue}.dlq`, messages: 2, consumers: 0 },
        },
      ],
      outbox: { pending: 0, oldestAgeSeconds: 0 },
    });
    const text = await runMeskit(['mq', 'stats'], {
      AMQP_URL: url,
      MESKIT_MQ_QUEUES: `${queue},test.cli-mq.none`,
    });
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`${queue.replace(/\./g, '\\.')}\\s+0\\s+1\\s+0\\s+2`));
    expect(text.stdout).toMatch(/test\.cli-mq\.none\s+missing/);
  });

  it('dlq list shows each dead letter with its error and leaves it; the doctor warns', async () => {
    const list = await runMeskit(['mq', 'dlq', 'list', queue, '--json'], { AMQP_URL: url });
    expect(list.code).toBe(0);
    const body = JSON.parse(list.stdout) as {
      deadLetters: { messageId: string; errorCode: string }[];
    };
    expect(body.deadLetters.map((l) => [l.messageId, l.errorCode])).toEqual([
      ['m-1', 'NO_STOCK'],
      ['m-2', 'NO_STOCK'],
    ]);
    const text = await runMeskit(['mq', 'dlq', 'list', queue], { AMQP_URL: url });
    expect(text.stdout).toContain('2 dead letter(s)');
    expect(text.stdout).toContain('no stock');
    const doctor = soleCheck(
      await runDoctorCheck('mq', [], { AMQP_URL: url, MESKIT_MQ_QUEUES: queue }),
      'mq',
    );
    expect(doctor.status).toBe('warn');
    expect(doctor.message).toContain(`${queue}.dlq holds 2 dead letter(s)`);
  });

  it('dlq replay publishes them again with their message-id; the doctor then passes', async () => {
    failing = false;
    const one = await runMeskit(['mq', 'dlq', 'replay', queue, '--message-id', 'm-2'], {
      AMQP_URL: url,
    });
    expect(one.code).toBe(0);
    expect(one.stdout).toContain('1 dead letter(s)');
    await waitFor('m-2 handled', () => handled.includes('m-2'));
    const missing = await runMeskit(['mq', 'dlq', 'replay', queue, '--message-id', 'nope'], {
      AMQP_URL: url,
    });
    expect(missing.code).toBe(1);
    expect(missing.stdout).toContain('no message nope');
    const rest = await runMeskit(['mq', 'dlq', 'replay', queue, '--json'], { AMQP_URL: url });
    expect(JSON.parse(rest.stdout)).toEqual({ replayed: ['m-1'], failed: [] });
    await waitFor('m-1 handled', () => handled.includes('m-1'));
    const doctor = soleCheck(
      await runDoctorCheck('mq', [], {
        AMQP_URL: url,
        MESKIT_MQ_QUEUES: queue,
        DATABASE_URL: db.url,
      }),
      'mq',
    );
    expect(doctor.status).toBe('pass');
    expect(doctor.message).toContain('no dead letters');
  });

  it('usage errors exit 2; an unreachable broker exits 1 with one line', async () => {
    const noUrl = await runMeskit(['mq', 'stats'], {});
    expect(noUrl.code).toBe(2);
    expect(noUrl.stderr).toContain('AMQP_URL');
    const badQueue = await runMeskit(['mq', 'dlq', 'list', 'a b'], { AMQP_URL: url });
    expect(badQueue.code).toBe(2);
    const down = await runMeskit(['mq', 'stats', '--timeout-ms', '2000'], {
      AMQP_URL: `amqp://guest:secret@127.0.0.1:${await closedPort()}`,
    });
    expect(down.code).toBe(1);
    expect(down.stderr.trim().split('\n')).toHaveLength(1);
    expect(down.stderr).not.toContain('secret');
  });
});
