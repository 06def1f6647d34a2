// Pricing across hosts: two workers in processes of their own share the requests' queue on the
// real RabbitMQ; one is SIGKILLed in the middle of a job; every request still gets exactly one
// reply, with the same price a local runner computes; a model that cannot be priced gets an
// error reply, not silence.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { deleteConsumerTopology, serviceUrls, uniqueName, waitFor } from '@meskit/testkit';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createPricingQueueClient,
  createPricingRunner,
  type PricingQueueClient,
} from '../dist/index.js';
import { binaryStl, torus, uvSphere } from './meshes.js';

const url = serviceUrls().amqpUrl;
const queue = uniqueName('test.pricing.requests');
const children: ChildProcess[] = [];
let client: PricingQueueClient | undefined;

afterAll(async () => {
  await client?.close();
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await deleteConsumerTopology(url, queue);
});

/** Starts a worker process; `starts` counts the jobs it began. */
async function startWorker(): Promise<{ child: ChildProcess; starts: () => number }> {
  const child = spawn(
    process.execPath,
    [fileURLToPath(new URL('./fixtures/queue-worker.mjs', import.meta.url)), url, queue],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  children.push(child);
  let starts = 0;
  let ready = false;
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (line === 'ready') ready = true;
    if (line === 'start') starts += 1;
  });
  await waitFor('the worker consuming', () => ready, { timeoutMs: 30_000 });
  return { child, starts: () => starts };
}

describe('pricing in queue mode', () => {
  it(
    'two workers share the queue; one SIGKILLed mid-job; every request gets exactly one reply',
    { timeout: 120_000 },
    async () => {
      const a = await startWorker();
      const b = await startWorker();
      client = createPricingQueueClient({
        url,
        queue,
        timeoutMs: 60_000,
        registry: new Registry(),
      });
      // Distinct models (no cache could answer one for another), heavy enough to take a while.
      const models = Array.from({ length: 24 }, (_, i) => binaryStl(torus(20 + i, 4, 120 + i, 60)));
      const replies = models.map((model) => client!.price(new Uint8Array(model)));
      await waitFor('worker A in the middle of its third job', () => a.starts() >= 3, {
        timeoutMs: 60_000,
      });
      a.child.kill('SIGKILL');
      const quotes = await Promise.all(replies);
      expect(client.stats()).toMatchObject({ sent: 24, answered: 24, pending: 0 });
      // The prices are the ones a local runner computes for the same bytes.
      const local = createPricingRunner({ threads: 1, cache: false, registry: new Registry() });
      try {
        for (const i of [0, 7, 23]) {
          const expected = await local.quote(new Uint8Array(models[i]!));
          expect(quotes[i]!.price).toEqual(expected.price);
          expect(quotes[i]!.analysis.triangles).toBe(expected.analysis.triangles);
        }
      } finally {
        await local.close();
      }
      expect(a.child.signalCode).toBe('SIGKILL');
      // B priced what A held when it died, and the rest.
      expect(b.starts()).toBeGreaterThan(24 - a.starts());
    },
  );

  it('a model that cannot be priced gets an error reply with its code', async () => {
    const quote = client!.price(new Uint8Array(Buffer.from('solid nothing\nendsolid nothing\n')));
    await expect(quote).rejects.toMatchObject({ name: 'PricingQueueError', code: 'EMPTY' });
    const good = await client!.price(new Uint8Array(binaryStl(uvSphere(5, 12, 24))));
    expect(good.analysis.triangles).toBeGreaterThan(0);
  });

  it('without any worker, price() says so instead of waiting', async () => {
    const lonely = createPricingQueueClient({
      url,
      queue: uniqueName('test.pricing.nobody'),
      registry: new Registry(),
    });
    try {
      await expect(
        lonely.price(new Uint8Array(binaryStl(uvSphere(5, 8, 8)))),
      ).rejects.toMatchObject({ code: 'NO_WORKERS' });
    } finally {
      await lonely.close();
    }
  });
});
