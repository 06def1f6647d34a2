// Topology from configuration, declared on every (re)connection: a broker that restarted
// without its definitions, or a queue someone deleted, is declared again before anything is
// published.
import type { Channel } from 'amqplib';

export interface ExchangeSpec {
  name: string;
  /** Default: `'topic'`. */
  type?: 'topic' | 'direct' | 'fanout' | 'headers';
}

export interface QueueSpec {
  name: string;
  /** Default: `'quorum'` (replicated, poison-message aware); `'classic'` for a single node. */
  type?: 'quorum' | 'classic';
  /** Where rejected or expired messages go (`x-dead-letter-exchange`). Default: none. */
  deadLetterExchange?: string;
  /** `x-dead-letter-routing-key`. Default: the message's own routing key. */
  deadLetterRoutingKey?: string;
  /** Further `x-` arguments, passed unchanged. */
  arguments?: Record<string, unknown>;
  /**
   * Used by this connection only and deleted with it (classic queues only). A per-process
   * queue for consumers that rebuild their state on every connection. Default: false.
   */
  exclusive?: boolean;
}

export interface BindingSpec {
  queue: string;
  exchange: string;
  /** Default: `'#'`. */
  pattern?: string;
}

export interface Topology {
  exchanges?: readonly ExchangeSpec[];
  queues?: readonly QueueSpec[];
  bindings?: readonly BindingSpec[];
}

/** Declares every exchange (durable), queue (durable, quorum by default) and binding. */
export async function declareTopology(channel: Channel, topology: Topology): Promise<void> {
  for (const exchange of topology.exchanges ?? []) {
    await channel.assertExchange(exchange.name, exchange.type ?? 'topic', { durable: true });
  }
  for (const queue of topology.queues ?? []) {
    const args: Record<string, unknown> = {
      'x-queue-type': queue.type ?? 'quorum',
      ...queue.arguments,
    };
    if (queue.deadLetterExchange !== undefined)
      args['x-dead-letter-exchange'] = queue.deadLetterExchange;
    if (queue.deadLetterRoutingKey !== undefined)
      args['x-dead-letter-routing-key'] = queue.deadLetterRoutingKey;
    await channel.assertQueue(
      queue.name,
      queue.exclusive
        ? { durable: false, exclusive: true, autoDelete: true, arguments: args }
        : { durable: true, arguments: args },
    );
  }
  for (const binding of topology.bindings ?? []) {
    await channel.bindQueue(binding.queue, binding.exchange, binding.pattern ?? '#');
  }
}
