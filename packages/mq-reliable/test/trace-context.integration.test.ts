// Trace context through RabbitMQ on the real broker and database: a publish, and an outbox row
// relayed later from another context, both carry the producer's traceparent; the consumer's
// handler runs in that trace and sees the read-your-writes token.
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { context, propagation, trace, TraceFlags } from '@opentelemetry/api';
import pg from 'pg';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConsumer, createOutbox, createPublisher } from '../dist/index.js';
import { createTestDatabase, names, serviceUrls, waitFor } from './helpers.js';
import { deleteConsumerTopology } from '@meskit/testkit';

const url = serviceUrls().amqpUrl;
const { exchange, queue } = names('trace');
const manager = new AsyncLocalStorageContextManager();
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let pool: pg.Pool;

beforeAll(async () => {
  context.setGlobalContextManager(manager.enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  db = await createTestDatabase('mq_trace');
  pool = new pg.Pool({ connectionString: db.url, max: 4 });
  pool.on('error', () => undefined);
});
afterAll(async () => {
  propagation.disable();
  context.disable();
  await pool.end();
  await db.drop();
  await deleteConsumerTopology(url, queue, exchange);
});

/** A context holding a sampled remote span, as an incoming request's would. */
function requestContext(traceId: string) {
  return trace.setSpanContext(context.active(), {
    traceId,
    spanId: 'a1b2c3d4e5f60718',
    traceFlags: TraceFlags.SAMPLED,
    isRemote: true,
  });
}

describe('trace context and the LSN token through publish, outbox and consume', () => {
  it('the handler runs in the trace of the request that published (directly or via the outbox)', async () => {
    const seen = new Map<
      string,
      { header: unknown; active: string | undefined; lsn: string | undefined }
    >();
    const consumer = createConsumer({
      url,
      queue,
      bindings: [{ exchange, pattern: 'order.#' }],
      registry: new Registry(),
      async handler(message) {
        seen.set(message.messageId, {
          header: message.headers['traceparent'],
          active: trace.getActiveSpan()?.spanContext().traceId,
          lsn: message.lsn,
        });
      },
    });
    const publisher = createPublisher({
      url,
      registry: new Registry(),
      topology: { exchanges: [{ name: exchange }] },
    });
    await createOutbox({ pool, registry: new Registry() }).migrate();
    const outbox = createOutbox({ pool, publisher, registry: new Registry() });
    try {
      await consumer.ready();
      const direct = '0af7651916cd43dd8448eb211c80319c';
      const viaOutbox = '4bf92f3577b34da6a3ce929d0e0e4736';
      await context.with(requestContext(direct), () =>
        publisher.publish(exchange, 'order.created', { n: 1 }, { messageId: 'direct' }),
      );
      await context.with(requestContext(viaOutbox), async () => {
        const client = await pool.connect();
        try {
          await client.query('BEGIN');
          await outbox.enqueue(
            client,
            exchange,
            'order.created',
            { n: 2 },
            { messageId: 'outbox' },
          );
          await client.query('COMMIT');
        } finally {
          client.release();
        }
      });
      // The relay publishes from its own loop, in no request's context.
      await waitFor('both handled', () => seen.size === 2);
      expect(seen.get('direct')).toMatchObject({
        header: `00-${direct}-a1b2c3d4e5f60718-01`,
        active: direct,
        lsn: undefined,
      });
      expect(seen.get('outbox')).toMatchObject({
        header: `00-${viaOutbox}-a1b2c3d4e5f60718-01`,
        active: viaOutbox,
      });
      expect(seen.get('outbox')?.lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    } finally {
      await consumer.close();
      await outbox.close();
      await publisher.close();
    }
  });
});
