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
