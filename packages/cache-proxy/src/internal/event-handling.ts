// Order events from RabbitMQ applied to the index: the order leaves its previous status's list
// and is written through to its new one. Poison events are acked, counted and warned about once.
import type { TokenTracker, WarnOnce } from '@meskit/kernel';
import type { Registry } from 'prom-client';
import { startConsumer, type EventConsumer, type OrderEventBody } from './events.js';
import { METRIC_NAMES } from './metrics.js';
import { viaStore, type Recorder } from './recorder.js';
import { memberOf, type IndexStore } from './store.js';
import type { WriteThrough } from './write-through.js';

const WARN_POISON = 'MESKIT_CACHE_POISON_EVENT';

export function startEventHandling(opts: {
  amqpUrl: string;
  exchange: string;
  queue: string | undefined;
  prefetch: number;
  retryDelayMs: number;
  registry: Registry;
  tokens: TokenTracker;
  statuses: readonly string[];
  store: IndexStore;
  writeThrough: WriteThrough;
  recorder: Recorder;
  warnOnce: WarnOnce;
}): EventConsumer {
  const { store, recorder, statuses } = opts;

  async function onEvent(event: OrderEventBody, lsn: string | undefined): Promise<void> {
    // The event's write is then what the write-through and later fills must see.
    opts.tokens.see(lsn);
    const previous = event.previousStatus;
    if (previous !== null && statuses.includes(previous)) {
      await viaStore(recorder, () =>
        store.remove(previous, memberOf(event.orderId), { known: true }),
      );
      recorder.invalidation('event');
    }
    if (statuses.includes(event.status)) await opts.writeThrough(event.status, event.orderId);
  }

  return startConsumer({
    url: opts.amqpUrl,
    exchange: opts.exchange,
    queue: opts.queue,
    prefetch: opts.prefetch,
    retryDelayMs: opts.retryDelayMs,
    registry: opts.registry,
    handle: (event, _routingKey, lsn) => onEvent(event, lsn),
    // Events may have been missed while disconnected: every index is filled afresh.
    onConnected: () => viaStore(recorder, () => store.reset(statuses)),
    onApplied: () => recorder.event('applied'),
    onPoison: (reason) => {
      recorder.event('poison');
      opts.warnOnce(
        WARN_POISON,
        `cache proxy: an order event could not be read (${reason}); it went to the dead-letter queue (the queue's name plus .dlq). Further ones are counted in ${METRIC_NAMES.events}{outcome="poison"} without warning.`,
      );
    },
    onIgnored: () => recorder.event('ignored'),
    onFailed: () => recorder.event('failed'),
  });
}
