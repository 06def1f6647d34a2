// createPublisher: confirmed publishing. Every message waits, bounded, until a channel is up;
// is sent with a stable message-id, persistent and mandatory; and its promise settles only on
// the broker's confirm (or a typed error). A message whose channel died before the confirm is
// sent again with the same message-id on the next channel, so a consumer with an inbox sees
// its effect once.
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import {
  describeError,
  emitWarning,
  getRegistry,
  MESSAGE_HEADERS,
  redactUrl,
} from '@meskit/kernel';
import { context, type Context } from '@opentelemetry/api';
import type { ConsumeMessage, Options } from 'amqplib';
import { PublishError, type PublishErrorCode } from './errors.js';
import { createDeadlines } from './internal/deadlines.js';
import { keepLink, type Link } from './internal/link.js';
import { contextOf, withTraceContext } from './internal/trace-context.js';
import { encode, missingExchange } from './internal/wire.js';
import { PUBLISHER_METRICS, publisherMetrics } from './internal/metrics.js';
import { resolvePublisherOptions, type PublisherOptions } from './options.js';
import type { PublishOptions, PublishResult, Publisher, PublisherStats } from './types.js';

export { PUBLISHER_METRICS };
export type { PublishOptions, PublishResult, Publisher, PublisherStats } from './types.js';

const WARN_UNAVAILABLE = 'MESKIT_MQ_BROKER_UNAVAILABLE';
/** First pause before a nacked message is sent again; it doubles up to the max. */
const NACK_RETRY_MS = 100;
const NACK_RETRY_MAX_MS = 2_000;

interface Entry {
  messageId: string;
  exchange: string;
  routingKey: string;
  content: Buffer;
  options: Options.Publish;
  started: number;
  /** The trace the message belongs to: a resend after a reconnect stays in it. */
  context: Context;
  /** performance.now() by which it must settle (`timeoutMs` after publish()). */
  deadline: number;
  timeoutMs: number;
  resolve: (result: PublishResult) => void;
  reject: (error: PublishError) => void;
  /** The channel generation it was last sent on; undefined: to be sent. */
  sentOn: number | undefined;
  attempts: number;
  /** Nacks so far (each resend waits longer). */
  nacks: number;
  /** Waiting out the pause after a nack: its timer sends it, not a reconnect. */
  pausedAfterNack: boolean;
  returned: boolean;
  settled: boolean;
}

/**
 * Connects (in the background) and returns the publisher at once. Throws `InvalidOptionError`
 * synchronously for a bad option.
 */
export function createPublisher(opts: PublisherOptions): Publisher {
  const o = resolvePublisherOptions(opts);
  const unconfirmed = new Map<string, Entry>();
  const metrics = publisherMetrics(opts.registry ?? getRegistry(), () => unconfirmed.size);
  // To send, in order: `queue` from `head` on (an index, not shift(): O(1) per message with
  // thousands buffered).
  let queue: Entry[] = [];
  let head = 0;
  let bytes = 0;
  let blocked = false;
  let waitingDrain = false;
  let closing = false;
  let outage = false;
  let everUp = false;
  const roomWaiters = new Set<() => void>();
  const readyWaiters = new Set<() => void>();
  const outcomes: PublisherStats['outcomes'] = {
    confirmed: 0,
    unroutable: 0,
    nacked: 0,
    no_exchange: 0,
    timeout: 0,
    buffer_full: 0,
    closed: 0,
  };
  let resent = 0;
  let reconnects = 0;
  const idle = new Set<() => void>();

  function release(entry: Entry): void {
    entry.settled = true;
    unconfirmed.delete(entry.messageId);
    bytes -= entry.content.length;
    for (const wake of roomWaiters) wake();
    if (unconfirmed.size === 0) {
      deadlines.stop();
      for (const done of idle) done();
    }
  }

  const deadlines = createDeadlines(
    () => unconfirmed.values(),
    (entry: Entry) =>
      fail(
        entry,
        'TIMEOUT',
        `no confirm for message ${entry.messageId} within ${entry.timeoutMs} ms (${kept.current ? 'connected' : 'not connected to RabbitMQ'}); it may still be delivered, with the same message-id`,
      ),
  );

  function succeed(entry: Entry): void {
    if (entry.settled) return;
    release(entry);
    outcomes.confirmed += 1;
    metrics.outcome('confirmed').inc();
    metrics.confirmDuration.observe((performance.now() - entry.started) / 1000);
    entry.resolve({ messageId: entry.messageId, attempts: entry.attempts });
  }

  function fail(entry: Entry, code: PublishErrorCode, message: string, cause?: unknown): void {
    if (entry.settled) return;
    release(entry);
    const outcome = code.toLowerCase() as Lowercase<PublishErrorCode>;
    outcomes[outcome] += 1;
    metrics.outcome(outcome).inc();
    entry.reject(new PublishError(code, entry.messageId, message, { cause }));
  }

  function onConfirm(entry: Entry, generation: number, error: unknown): void {
    if (entry.settled || entry.sentOn !== generation) return;
    if (error === null || error === undefined) {
      if (entry.returned) {
        fail(
          entry,
          'UNROUTABLE',
          `message ${entry.messageId} to exchange "${entry.exchange}" with routing key "${entry.routingKey}" was returned: no queue is bound for it; declare the queue and its binding, or publish with mandatory: false`,
        );
      } else succeed(entry);
      return;
    }
    if (error instanceof Error && error.message === 'message nacked') {
      // Not stored. Often transient (a quorum queue electing a new leader after a node died):
      // sent again after a pause that doubles, while its deadline allows; then NACKED.
      const delay = Math.min(NACK_RETRY_MAX_MS, NACK_RETRY_MS * 2 ** entry.nacks);
      entry.nacks += 1;
      if (performance.now() + delay >= entry.deadline || closing) {
        fail(
          entry,
          'NACKED',
          `the broker refused message ${entry.messageId} (nack, ${entry.nacks} time(s)): it was not stored; retry later`,
          error,
        );
        return;
      }
      entry.sentOn = undefined;
      entry.pausedAfterNack = true;
      const timer = setTimeout(() => {
        entry.pausedAfterNack = false;
        if (entry.settled) return;
        queue.push(entry);
        pump();
      }, delay);
      timer.unref();
    }
    // Otherwise the channel closed before the confirm: onDown sends it again.
  }

  function pump(): void {
    const link = kept.current;
    while (link && !blocked && !waitingDrain && head < queue.length) {
      const entry = queue[head++]!;
      if (head === queue.length) {
        queue = [];
        head = 0;
      } else if (head >= 1024 && head * 2 >= queue.length) {
        queue = queue.slice(head);
        head = 0;
      }
      if (entry.settled) continue;
      entry.sentOn = link.generation;
      entry.returned = false;
      entry.attempts += 1;
      if (entry.attempts > 1) {
        resent += 1;
        metrics.resent.inc();
      }
      const generation = link.generation;
      let accepted: boolean;
      try {
        const send = (): boolean =>
          link.channel.publish(
            entry.exchange,
            entry.routingKey,
            entry.content,
            entry.options,
            (error) => onConfirm(entry, generation, error),
          );
        // In the message's trace (amqplib's instrumentation reads it); without a context
        // manager, or already in it, no wrapping.
        accepted = entry.context === context.active() ? send() : context.with(entry.context, send);
      } catch {
        // The channel is closing under us: the entry goes back first in line for the next one.
        entry.sentOn = undefined;
        entry.attempts -= 1;
        if (head > 0) queue[--head] = entry;
        else queue.unshift(entry);
        return;
      }
      if (!accepted) {
        // The socket's buffer is full: wait for it to drain instead of buffering in amqplib.
        waitingDrain = true;
        link.channel.once('drain', () => {
          waitingDrain = false;
          pump();
        });
      }
    }
  }

  function onUp(link: Link): void {
    if (everUp) {
      reconnects += 1;
      metrics.reconnects.inc();
    }
    everUp = true;
    outage = false;
    waitingDrain = false;
    link.channel.on('return', (message: ConsumeMessage) => {
      const id: unknown = message.properties.messageId;
      const entry = typeof id === 'string' ? unconfirmed.get(id) : undefined;
      if (entry && entry.sentOn === link.generation) entry.returned = true;
    });
    for (const wake of readyWaiters) wake();
    pump();
  }

  function onDown(link: Link, error: Error | undefined): void {
    const gone = missingExchange(error);
    for (const entry of unconfirmed.values()) {
      if (entry.settled || entry.sentOn !== link.generation) continue;
      entry.sentOn = undefined;
      if (gone !== undefined && entry.exchange === gone) {
        fail(
          entry,
          'NO_EXCHANGE',
          `exchange "${gone}" does not exist on ${link.broker}; declare it (topology.exchanges) before publishing to it`,
          error,
        );
      }
    }
    // Everything not confirmed goes out again, in the order it was published.
    queue = [...unconfirmed.values()].filter(
      (e) => !e.settled && e.sentOn === undefined && !e.pausedAfterNack,
    );
    head = 0;
  }

  const kept = keepLink({
    ...o,
    onUp,
    onDown,
    onConnectFailed(broker, error) {
      if (outage || closing) return;
      outage = true;
      emitWarning(
        WARN_UNAVAILABLE,
        `mq-reliable: cannot reach RabbitMQ at ${broker} (${describeError(error)}); publishes wait (bounded by buffer and timeoutMs) and connecting is retried with backoff. Said once per outage.`,
      );
    },
    onBlocked(value) {
      blocked = value;
      if (!value) pump();
    },
  });

  function waitForRoom(size: number, deadline: number): Promise<boolean> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (closing) return finish(false);
        if (unconfirmed.size < o.maxMessages && bytes + size <= o.maxBytes) finish(true);
      };
      const timer = setTimeout(() => finish(false), Math.max(0, deadline - performance.now()));
      timer.unref();
      function finish(ok: boolean): void {
        clearTimeout(timer);
        roomWaiters.delete(check);
        resolve(ok);
      }
      roomWaiters.add(check);
    });
  }

  async function publish(
    exchange: string,
    routingKey: string,
    body: unknown,
    popts: PublishOptions = {},
  ): Promise<PublishResult> {
    if (typeof exchange !== 'string' || typeof routingKey !== 'string')
      throw new TypeError('publish: exchange and routingKey must be strings');
    const messageId = popts.messageId ?? randomUUID();
    const timeoutMs = popts.timeoutMs ?? o.timeoutMs;
    const started = performance.now();
    const refuse = (code: PublishErrorCode, message: string): never => {
      const outcome = code.toLowerCase() as Lowercase<PublishErrorCode>;
      outcomes[outcome] += 1;
      metrics.outcome(outcome).inc();
      throw new PublishError(code, messageId, message);
    };
    if (closing) refuse('CLOSED', 'publish() after close(): create a new publisher');
    if (unconfirmed.has(messageId))
      throw new TypeError(`publish: message ${messageId} is already being published`);
    const { content, json } = encode(body);
    if (content.length > o.maxBytes)
      refuse(
        'BUFFER_FULL',
        `message ${messageId} has ${content.length} bytes, over buffer.maxBytes (${o.maxBytes})`,
      );
    let waited = false;
    if (unconfirmed.size >= o.maxMessages || bytes + content.length > o.maxBytes) {
      const full = `${unconfirmed.size} messages (${bytes} bytes) wait for confirms, the bound of buffer.maxMessages/maxBytes`;
      if (o.overflow === 'reject')
        refuse('BUFFER_FULL', `${full}; message ${messageId} is refused`);
      if (!(await waitForRoom(content.length, started + timeoutMs))) {
        if (closing) refuse('CLOSED', 'the publisher closed while this publish waited for room');
        refuse('BUFFER_FULL', `${full}, and no room came within ${timeoutMs} ms`);
      }
      waited = true;
    }
    const contentType = popts.contentType ?? (json ? 'application/json' : undefined);
    const headers = withTraceContext({ ...popts.headers, [MESSAGE_HEADERS.messageId]: messageId });
    // A message that carries its trace (relayed from the outbox) is sent in that trace.
    const traceContext = popts.headers?.['traceparent'] ? contextOf(headers) : context.active();
    return new Promise<PublishResult>((resolve, reject) => {
      const entry: Entry = {
        messageId,
        exchange,
        routingKey,
        content,
        options: {
          messageId,
          persistent: true,
          mandatory: popts.mandatory ?? true,
          timestamp: Math.floor(Date.now() / 1000),
          ...(contentType ? { contentType } : {}),
          ...(popts.correlationId !== undefined ? { correlationId: popts.correlationId } : {}),
          ...(popts.replyTo !== undefined ? { replyTo: popts.replyTo } : {}),
          headers,
        },
        started,
        context: traceContext,
        deadline: started + timeoutMs,
        timeoutMs,
        resolve,
        reject,
        sentOn: undefined,
        attempts: 0,
        nacks: 0,
        pausedAfterNack: false,
        returned: false,
        settled: false,
      };
      unconfirmed.set(messageId, entry);
      bytes += content.length;
      // Its deadline is out of publish order when it has its own timeout, or counts from
      // before a wait for room.
      deadlines.added(entry, timeoutMs === o.timeoutMs && !waited);
      queue.push(entry);
      pump();
    });
  }

  let closed: Promise<void> | undefined;
  async function close(): Promise<void> {
    closing = true;
    for (const wake of roomWaiters) wake();
    if (unconfirmed.size > 0) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          idle.delete(done);
          resolve();
        };
        idle.add(done);
      });
    }
    for (const wake of readyWaiters) wake();
    deadlines.stop();
    await kept.close();
    metrics.detach();
  }

  return {
    publish,
    stats: () => ({
      connected: kept.current !== undefined,
      broker: kept.current?.broker,
      unconfirmed: unconfirmed.size,
      unconfirmedBytes: bytes,
      outcomes: { ...outcomes },
      resent,
      reconnects,
    }),
    ready(timeoutMs = o.timeoutMs) {
      if (kept.current) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          readyWaiters.delete(done);
          reject(
            new Error(
              `no RabbitMQ channel within ${timeoutMs} ms (${o.urls.map((u) => redactUrl(u)).join(', ')})${kept.lastError ? `; last failure: ${describeError(kept.lastError)}` : ''}`,
              { cause: kept.lastError },
            ),
          );
        }, timeoutMs);
        timer.unref();
        function done(): void {
          clearTimeout(timer);
          readyWaiters.delete(done);
          if (kept.current) resolve();
          else reject(new Error('the publisher closed before a channel was up'));
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
