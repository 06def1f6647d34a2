// Shared by the publisher tests: a queue of its own on the run's RabbitMQ, read back with a
// plain amqplib consumer (what a downstream service would receive).
import amqp, { type ChannelModel } from 'amqplib';
import { uniqueName } from '@meskit/testkit';

export {
  createTestDatabase,
  deadPort,
  serviceUrls,
  startRelay,
  uniqueName,
  waitFor,
} from '@meskit/testkit';

/** An exchange and a quorum queue bound to it, named for one test. */
export function names(prefix: string): { exchange: string; queue: string } {
  return { exchange: uniqueName(`test.${prefix}.x`), queue: uniqueName(`test.${prefix}.q`) };
}

/** The message ids that reached `queue`, read with manual acks; close() deletes the topology. */
export async function drain(
  url: string,
  queue: string,
): Promise<{
  ids: string[];
  bodies: string[];
  headers: Record<string, unknown>[];
  close(exchange?: string): Promise<void>;
}> {
  const connection: ChannelModel = await amqp.connect(url);
  const channel = await connection.createChannel();
  const ids: string[] = [];
  const bodies: string[] = [];
  const headers: Record<string, unknown>[] = [];
  await channel.consume(queue, (message) => {
    if (!message) return;
    ids.push(String(message.properties.messageId));
    bodies.push(message.content.toString('utf8'));
    headers.push((message.properties.headers ?? {}) as Record<string, unknown>);
    channel.ack(message);
  });
  return {
    ids,
    bodies,
    headers,
    async close(exchange) {
      await channel.deleteQueue(queue).catch(() => undefined);
      if (exchange) await channel.deleteExchange(exchange).catch(() => undefined);
      await connection.close().catch(() => undefined);
    },
  };
}
