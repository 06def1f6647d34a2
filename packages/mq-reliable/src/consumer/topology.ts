// What a consumer declares: its queue, one wait queue per retry delay (messages expire back
// into the queue), and the dead-letter queue. On quorum queues, dead-lettering is
// at-least-once (a broker crash while moving a message does not lose it), and the queue
// dead-letters by itself a copy delivered more than `deliveryLimit` times.
import type { QueueSpec, Topology } from '../internal/topology.js';
import type { ResolvedConsumerOptions } from './options.js';

export function waitQueueName(queue: string, retry: number): string {
  return `${queue}.retry.${retry}`;
}

function atLeastOnce(o: ResolvedConsumerOptions): Record<string, unknown> {
  return o.queueType === 'quorum'
    ? { 'x-dead-letter-strategy': 'at-least-once', 'x-overflow': 'reject-publish' }
    : {};
}

export function consumerTopology(
  o: ResolvedConsumerOptions,
  bindings: readonly { exchange: string; pattern?: string }[],
  extra: Topology,
): Topology {
  // An exclusive queue's companions expire once unused, instead of outliving the process.
  const expires = o.exclusive ? { 'x-expires': 3_600_000 } : {};
  const main: QueueSpec = {
    name: o.queue,
    type: o.queueType,
    exclusive: o.exclusive,
    deadLetterExchange: '',
    deadLetterRoutingKey: o.deadLetterQueue,
    arguments: {
      ...atLeastOnce(o),
      ...(o.queueType === 'quorum' ? { 'x-delivery-limit': o.deliveryLimit } : {}),
    },
  };
  const waits: QueueSpec[] = o.delaysMs.map((delay, i) => ({
    name: waitQueueName(o.queue, i + 1),
    type: o.queueType,
    deadLetterExchange: '',
    deadLetterRoutingKey: o.queue,
    arguments: { 'x-message-ttl': delay, ...atLeastOnce(o), ...expires },
  }));
  const exchanges = [...new Set(bindings.map((b) => b.exchange))].map((name) => ({ name }));
  return {
    exchanges: [...(extra.exchanges ?? []), ...exchanges],
    queues: [
      ...(extra.queues ?? []),
      main,
      ...waits,
      { name: o.deadLetterQueue, type: o.queueType },
    ],
    bindings: [
      ...(extra.bindings ?? []),
      ...bindings.map((b) => ({ queue: o.queue, exchange: b.exchange, pattern: b.pattern ?? '#' })),
    ],
  };
}
