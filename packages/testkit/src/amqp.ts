// RabbitMQ topology a test file declared (durable, so it outlives the connection that made it).
import amqp from 'amqplib';

/** Deletes the durable exchange and queue a test file's MES declared; a missing one is fine. */
export async function deleteTopology(
  amqpUrl: string,
  exchange: string,
  queue: string,
): Promise<void> {
  const connection = await amqp.connect(amqpUrl);
  try {
    const channel = await connection.createChannel();
    await channel.deleteQueue(queue);
    await channel.deleteExchange(exchange);
  } finally {
    await connection.close().catch(() => undefined);
  }
}

/**
 * Deletes what an mq-reliable consumer of `queue` declared: the queue, its wait queues
 * (`<queue>.retry.N`), its dead-letter queue, and `exchange` when given. A missing one is fine.
 */
export async function deleteConsumerTopology(
  amqpUrl: string,
  queue: string,
  exchange?: string,
): Promise<void> {
  const connection = await amqp.connect(amqpUrl);
  connection.on('error', () => undefined);
  try {
    const names = [queue, `${queue}.dlq`, ...[1, 2, 3].map((n) => `${queue}.retry.${n}`)];
    for (const name of names) {
      // A refused delete closes its channel: one channel each.
      const channel = await connection.createChannel();
      channel.on('error', () => undefined);
      await channel.deleteQueue(name).catch(() => undefined);
      await channel.close().catch(() => undefined);
    }
    if (exchange !== undefined) {
      const channel = await connection.createChannel();
      channel.on('error', () => undefined);
      await channel.deleteExchange(exchange).catch(() => undefined);
      await channel.close().catch(() => undefined);
    }
  } finally {
    await connection.close().catch(() => undefined);
  }
}
