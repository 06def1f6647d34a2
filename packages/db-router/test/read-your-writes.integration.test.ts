// The read-your-writes proof on a primary and a streaming replica of its own that
// applies every change 50 ms late: 10,000 write-then-read cycles, 8,000 in one context, 1,000
// across an HTTP hop (the write's answer carries x-meskit-lsn, the read sends it back) and 1,000
// across a RabbitMQ hop (the token in the message's x-meskit-lsn header): 0 stale reads, while
// reads that carry no token keep going to the replica.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listen, MESSAGE_HEADERS } from '@meskit/kernel';
import { createConsumer, createPublisher } from '@meskit/mq-reliable';
import { startPostgres, type PostgresPair } from '@meskit/services';
import { serviceUrls, uniqueName, waitFor } from '@meskit/testkit';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRouter, type Router } from '../dist/index.js';

const CONCURRENCY = 50;
let dir: string;
let pair: PostgresPair;
let router: Router;
let server: Server;
let base: string;
const closers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'meskit-db-ryw-'));
  chmodSync(dir, 0o755); // PostgreSQL runs as the postgres user and must traverse this folder
  pair = await startPostgres({ dir });
  await pair.primary.query('CREATE TABLE marks (id bigserial PRIMARY KEY, v int NOT NULL)');
  await pair.waitForReplay();
  await pair.setReplicaApplyDelay(50);
  router = createRouter({
    primary: { connectionString: pair.primary.url, max: 20 },
    replicas: [{ connectionString: pair.replica!.url, max: 20 }],
    pollIntervalMs: 20,
    readYourWrites: { waitMs: 2_000 },
    registry: new Registry(),
  });
  await waitFor('the replica in service', () => router.stats().servers[1]?.inService === true);
  // The HTTP hop: POST writes and answers its position; GET reads in the context it names.
  server = createServer((req, res) => {
    const token = req.headers[MESSAGE_HEADERS.lsn];
    void router.context(
      async () => {
        const url = new URL(req.url ?? '/', 'http://x');
        if (req.method === 'POST') {
          const { rows } = await router.query<{ id: string }>(
            'INSERT INTO marks (v) VALUES ($1) RETURNING id',
            [Number(url.searchParams.get('v'))],
          );
          res.writeHead(200, { [MESSAGE_HEADERS.lsn]: (await router.token()) ?? '' });
          res.end(rows[0]!.id);
        } else {
          const { rows } = await router.query<{ v: number }>('SELECT v FROM marks WHERE id = $1', [
            url.searchParams.get('id'),
          ]);
          res.end(rows[0] === undefined ? 'missing' : String(rows[0].v));
        }
      },
      { token: typeof token === 'string' ? token : undefined },
    );
  });
  base = await listen(server, { host: '127.0.0.1', port: 0, what: 'test server' });
}, 120_000);

afterAll(async () => {
  for (const close of closers.reverse()) await close();
  await new Promise((resolve) => server?.close(resolve));
  await router?.end();
  await pair?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs `cycle(i)` for i < count, `CONCURRENCY` at a time; returns how many were stale. */
async function cycles(count: number, cycle: (i: number) => Promise<boolean>): Promise<number> {
  let next = 0;
  let stale = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) if (!(await cycle(next++))) stale += 1;
    }),
  );
  return stale;
}

describe('read-your-writes with a replica applying 50 ms late', () => {
  it(
    '10,000 write-then-read cycles, in one context and across HTTP and RabbitMQ: 0 stale',
    { timeout: 300_000 },
    async () => {
      // Reads that carry nothing, beside: they are not held back.
      let free = { replica: 0, all: 0 };
      let stop = false;
      const before = router.stats().queries.replica;
      const bystander = (async () => {
        while (!stop) {
          await router.query('SELECT count(*) FROM marks');
          free.all += 1;
          await new Promise((resolve) => setTimeout(resolve, 5)); // a reader, not a spinner
        }
      })();

      const inContext = await cycles(8_000, (i) =>
        router.context(async () => {
          const { rows } = await router.query<{ id: string }>(
            'INSERT INTO marks (v) VALUES ($1) RETURNING id',
            [i],
          );
          const read = await router.query<{ v: number }>('SELECT v FROM marks WHERE id = $1', [
            rows[0]!.id,
          ]);
          return read.rows[0]?.v === i;
        }),
      );

      const overHttp = await cycles(1_000, async (i) => {
        const written = await fetch(`${base}/?v=${i}`, { method: 'POST' });
        const id = await written.text();
        const token = written.headers.get(MESSAGE_HEADERS.lsn) ?? '';
        const read = await fetch(`${base}/?id=${id}`, {
          headers: { [MESSAGE_HEADERS.lsn]: token },
        });
        return (await read.text()) === String(i);
      });

      // The RabbitMQ hop: the writer publishes the row's id with its token; the consumer reads
      // it in a context started from the message's header.
      const url = serviceUrls().amqpUrl;
      const queue = uniqueName('test.db-router.ryw');
      const results = new Map<number, boolean>();
      const consumer = createConsumer<{ id: string; v: number }>({
        url,
        queue,
        queueType: 'classic',
        exclusive: true,
        prefetch: CONCURRENCY,
        registry: new Registry(),
        handler: (message) =>
          router.context(
            async () => {
              const { rows } = await router.query<{ v: number }>(
                'SELECT v FROM marks WHERE id = $1',
                [message.body.id],
              );
              results.set(message.body.v, rows[0]?.v === message.body.v);
            },
            { token: message.lsn },
          ),
      });
      const publisher = createPublisher({ url, registry: new Registry() });
      closers.push(
        () => consumer.close(),
        () => publisher.close(),
      );
      await consumer.ready();
      await cycles(1_000, (i) =>
        router.context(async () => {
          const { rows } = await router.query<{ id: string }>(
            'INSERT INTO marks (v) VALUES ($1) RETURNING id',
            [i],
          );
          await publisher.publish(
            '',
            queue,
            { id: rows[0]!.id, v: i },
            { headers: { [MESSAGE_HEADERS.lsn]: (await router.token())! } },
          );
          return true;
        }),
      );
      await waitFor('every message read', () => results.size === 1_000, { timeoutMs: 60_000 });
      const overMq = [...results.values()].filter((fresh) => !fresh).length;

      stop = true;
      await bystander;
      free = { replica: router.stats().queries.replica - before, all: free.all };

      expect({ inContext, overHttp, overMq }).toEqual({ inContext: 0, overHttp: 0, overMq: 0 });
      const ryw = router.stats().readYourWrites;
      // Most of the context reads were served by the replica once it caught up, not the primary.
      expect(ryw.replica + ryw.waited).toBeGreaterThan(ryw.fallback);
      // And the bystander's reads went to the replica (the cycles' reads count there too).
      expect(free.all).toBeGreaterThan(50);
      expect(free.replica).toBeGreaterThan(free.all);
      console.log(`read-your-writes: ${JSON.stringify({ ryw, bystanderReads: free.all })}`);
    },
  );
});
