// createConsumer: manual acks after the handler succeeded; a failure goes to a wait queue
// (retried after its delay) and, after the last retry, to the dead-letter queue with the error
// in its headers; a body that does not parse goes there at once. The copy is confirmed by the
// broker before the original is acked, so a failure never loses the message. With an inbox, a
// message delivered twice (a channel died before its ack, a retry raced a redelivery) has its
// effect once.
import { performance } from 'node:perf_hooks';
import {
  describeError,
  emitWarning,
  getRegistry,
  MeskitError,
  MESSAGE_HEADERS,
} from '@meskit/kernel';
import type { ConsumeMessage } from 'amqplib';
import { keepLink, type Link } from '../internal/link.js';
import { consumerMetrics } from '../internal/metrics.js';
import { inConsumerSpan } from '../internal/trace-context.js';
import { attemptOf, deliveryCountOf, failureHeaders, headersOf, messageIdOf } from './headers.js';
import { resolveConsumerOptions, type ConsumerOptions } from './options.js';
import { KeyedSerializer } from './key-order.js';
import { consumerTopology, waitQueueName } from './topology.js';
import type { ConsumedMessage, ConsumeOutcome, Consumer, ConsumerStats } from './types.js';

const WARN_UNAVAILABLE = 'MESKIT_MQ_CONSUMER_BROKER_UNAVAILABLE';
const WARN_NOT_CONSUMING = 'MESKIT_MQ_CONSUMER_NOT_CONSUMING';

/** The error a dead-lettered message that did not parse carries in its headers. */
class UnparseableMessage extends MeskitError<'UNPARSEABLE'> {
  constructor(cause: unknown) {
    super('UNPARSEABLE', `the body does not parse: ${describeError(cause)}`, { cause });
  }
}

function parserOf<T>(parse: ConsumerOptions<T>['parse']): (content: Buffer) => T {
  if (typeof parse === 'function') return parse;
  if (parse === 'text') return (c) => c.toString('utf8') as T;
  if (parse === 'buffer') return (c) => c as T;
  return (c) => JSON.parse(c.toString('utf8')) as T;
}

export function createConsumer<T = unknown>(opts: ConsumerOptions<T>): Consumer {
  const o = resolveConsumerOptions(opts);
  const parse = parserOf(opts.parse);
  const metrics = consumerMetrics(opts.registry ?? getRegistry(), o.queue);
  const topology = consumerTopology(o, opts.bindings ?? [], opts.topology ?? {});
  const abort = new AbortController();
  const outcomes: ConsumerStats['outcomes'] = {
    acked: 0,
    duplicate: 0,
    retried: 0,
    dead_lettered: 0,
    unparseable: 0,
    requeued: 0,
  };
  let closing = false;
  let inFlight = 0;
  let consuming: { link: Link; tag: string } | undefined;
  let everUp = false;
  let reconnects = 0;
  let outage = false;
  const idle = new Set<() => void>();
  const inKeyOrder = new KeyedSerializer();
  const readyWaiters = new Set<() => void>();

  function count(outcome: ConsumeOutcome): void {
    outcomes[outcome] += 1;
    metrics.consumed.inc({ outcome });
  }

  /** Sends a copy to `queue` on the delivering channel and waits for its confirm. */
  function sendCopy(
    link: Link,
    queue: string,
    message: ConsumeMessage,
    headers: Record<string, unknown>,
  ): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no confirm within ${o.confirmTimeoutMs} ms`)),
        o.confirmTimeoutMs,
      );
      timer.unref();
      try {
        link.channel.publish(
          '',
          queue,
          message.content,
          {
            persistent: true,
            mandatory: false,
            messageId: messageIdOf(message),
            headers,
            ...(message.properties.contentType
              ? { contentType: message.properties.contentType as string }
              : {}),
            ...(message.properties.correlationId
              ? { correlationId: message.properties.correlationId as string }
              : {}),
            ...(message.properties.replyTo
              ? { replyTo: message.properties.replyTo as string }
              : {}),
          },
          (error) => {
            clearTimeout(timer);
            if (error) reject(error instanceof Error ? error : new Error(String(error)));
            else resolve();
          },
        );
      } catch (error) {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
  }

  /** Acks or nacks on the channel that delivered; on a dead channel the broker redelivers. */
  function settle(link: Link, message: ConsumeMessage, how: 'ack' | 'requeue'): boolean {
    if (kept.current !== link) return false;
    try {
      if (how === 'ack') link.channel.ack(message);
      else link.channel.nack(message, false, true);
      return true;
    } catch {
      return false;
    }
  }

  async function fail(
    link: Link,
    message: ConsumeMessage,
    error: unknown,
  ): Promise<ConsumeOutcome> {
    const attempt = attemptOf(message);
    const unparseable = error instanceof UnparseableMessage;
    const retryable = !unparseable && (opts.retry?.retryable?.(error) ?? true);
    const retry = retryable && (attempt < o.delaysMs.length || o.afterLast === 'repeat');
    // 'repeat': past the last delay, every retry waits in the last wait queue.
    const wait = Math.min(attempt + 1, o.delaysMs.length);
    const target = retry ? waitQueueName(o.queue, wait) : o.deadLetterQueue;
    try {
      await sendCopy(
        link,
        target,
        message,
        failureHeaders(message, o.queue, error, retry ? attempt + 1 : attempt),
      );
    } catch {
      // The copy was not confirmed: the original goes back to the queue instead.
      settle(link, message, 'requeue');
      return 'requeued';
    }
    settle(link, message, 'ack');
    if (unparseable) return 'unparseable';
    return retry ? 'retried' : 'dead_lettered';
  }

  async function handle(link: Link, raw: ConsumeMessage): Promise<ConsumeOutcome> {
    let body: T;
    try {
      body = parse(raw.content);
    } catch (error) {
      return fail(link, raw, new UnparseableMessage(error));
    }
    const headers = headersOf(raw);
    const lsn = headers[MESSAGE_HEADERS.lsn];
    const message: ConsumedMessage<T> = {
      body,
      messageId: messageIdOf(raw),
      exchange: raw.fields.exchange,
      routingKey: raw.fields.routingKey,
      headers,
      lsn: typeof lsn === 'string' ? lsn : Buffer.isBuffer(lsn) ? lsn.toString() : undefined,
      attempt: attemptOf(raw),
      deliveryCount: deliveryCountOf(raw),
      redelivered: raw.fields.redelivered,
      raw,
    };
    let key: string | undefined;
    try {
      key = opts.orderingKey?.(message);
    } catch (error) {
      return fail(link, raw, error);
    }
    if (key === undefined) return run(link, raw, message);
    // Its turn may come after its channel died: the broker then delivers it again, and
    // running it here too would have its effect twice without an inbox.
    return inKeyOrder.run(key, () =>
      kept.current === link ? run(link, raw, message) : Promise.resolve('requeued' as const),
    );
  }

  /** Runs the handler (in the inbox's transaction, if any), then acks, or fails the message. */
  async function run(
    link: Link,
    raw: ConsumeMessage,
    message: ConsumedMessage<T>,
  ): Promise<ConsumeOutcome> {
    const headers = message.headers;
    try {
      const { duplicate } = await inConsumerSpan(
        o.queue,
        headers,
        {
          'messaging.message.id': message.messageId,
          'messaging.rabbitmq.destination.routing_key': message.routingKey,
        },
        async () => {
          if (!opts.inbox) {
            await opts.handler(message, { db: undefined, signal: abort.signal });
            return { duplicate: false };
          }
          return opts.inbox.run(message.messageId, (db) =>
            opts.handler(message, { db, signal: abort.signal }),
          );
        },
      );
      settle(link, raw, 'ack');
      return duplicate ? 'duplicate' : 'acked';
    } catch (error) {
      return fail(link, raw, error);
    }
  }

  function deliver(link: Link, raw: ConsumeMessage | null): void {
    if (raw === null) {
      // The broker cancelled the consumer (its queue was deleted): a new channel declares
      // the topology again and consumes anew.
      link.channel.close().catch(() => undefined);
      return;
    }
    inFlight += 1;
    metrics.inFlight.inc();
    const started = performance.now();
    void handle(link, raw)
      .then(count, () => count('requeued'))
      .finally(() => {
        metrics.duration.observe((performance.now() - started) / 1000);
        inFlight -= 1;
        metrics.inFlight.dec();
        if (inFlight === 0) for (const done of idle) done();
      });
  }

  async function startConsuming(link: Link): Promise<void> {
    await opts.beforeConsume?.();
    if (kept.current !== link) return;
    await link.channel.prefetch(o.prefetch);
    const { consumerTag } = await link.channel.consume(o.queue, (raw) => deliver(link, raw), {
      noAck: false,
    });
    if (kept.current !== link) return;
    if (closing) {
      await link.channel.cancel(consumerTag).catch(() => undefined);
      return;
    }
    consuming = { link, tag: consumerTag };
    metrics.up.set(1);
    for (const wake of readyWaiters) wake();
  }

  /**
   * Starts consuming on `link`; when that fails (`beforeConsume` rejected: the state it
   * rebuilds is unreachable), tries again on the same channel with backoff.
   */
  async function consumeWithRetry(link: Link, failures: number): Promise<void> {
    try {
      await startConsuming(link);
    } catch (error) {
      if (closing || kept.current !== link) return;
      if (failures === 0)
        emitWarning(
          WARN_NOT_CONSUMING,
          `mq-reliable: the consumer of ${o.queue} cannot start consuming (${describeError(error)}); it tries again with backoff.`,
        );
      const delay = Math.min(o.reconnectMaxMs, o.reconnectMinMs * 2 ** Math.min(failures, 20));
      const timer = setTimeout(() => void consumeWithRetry(link, failures + 1), delay);
      timer.unref();
    }
  }

  const kept = keepLink({
    ...o,
    topology,
    onUp(link) {
      if (everUp) {
        reconnects += 1;
        metrics.reconnects.inc();
      }
      everUp = true;
      outage = false;
      if (closing) return;
      void consumeWithRetry(link, 0);
    },
    onDown(link) {
      if (consuming?.link === link) {
        consuming = undefined;
        metrics.up.set(0);
      }
    },
    onConnectFailed(broker, error) {
      if (outage || closing) return;
      outage = true;
      emitWarning(
        WARN_UNAVAILABLE,
        `mq-reliable: the consumer of ${o.queue} cannot reach RabbitMQ at ${broker} (${describeError(error)}); it reconnects with backoff. Said once per outage.`,
      );
    },
    onBlocked() {
      // Blocking holds back publishes only; acks still flow.
    },
  });

  let closed: Promise<void> | undefined;
  async function close(): Promise<void> {
    closing = true;
    for (const wake of readyWaiters) wake();
    const current = consuming;
    consuming = undefined;
    metrics.up.set(0);
    if (current) await current.link.channel.cancel(current.tag).catch(() => undefined);
    if (inFlight > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, o.shutdownTimeoutMs);
        function done(): void {
          clearTimeout(timer);
          idle.delete(done);
          resolve();
        }
        idle.add(done);
      });
      if (inFlight > 0) abort.abort(new Error('the consumer closed before the handler finished'));
    }
    await kept.close();
    metrics.detach();
  }

  return {
    stats: () => ({
      consuming: consuming !== undefined,
      inFlight,
      outcomes: { ...outcomes },
      reconnects,
    }),
    ready(timeoutMs = 30_000) {
      if (consuming) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          readyWaiters.delete(done);
          reject(
            new Error(
              `the consumer of ${o.queue} was not consuming within ${timeoutMs} ms${kept.lastError ? `; last failure: ${describeError(kept.lastError)}` : ''}`,
              { cause: kept.lastError },
            ),
          );
        }, timeoutMs);
        timer.unref();
        function done(): void {
          clearTimeout(timer);
          readyWaiters.delete(done);
          if (consuming) resolve();
          else reject(new Error(`the consumer of ${o.queue} closed before it was consuming`));
        }
        readyWaiters.add(done);
      });
    },
    close() {
      closed ??= close();
      return closed;
    },
  };
}
