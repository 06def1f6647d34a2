// The order-event consumer: a queue bound to the MES's topic exchange, manual acks only once the
// index holds the event's effect, requeue after a pause when the store or the MES is
// unavailable, reconnect with backoff when the broker goes away.
import amqp, { type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import { statusOfRoutingKey } from '@meskit/kernel';

export interface OrderEventBody {
  orderId: number;
  status: string;
  previousStatus: string | null;
}

export interface ConsumerOptions {
  url: string;
  exchange: string;
  /** A durable queue of this name; undefined: an exclusive, server-named one (memory store). */
  queue: string | undefined;
  prefetch: number;
  /** Pause before a failed message goes back to the queue. */
  retryDelayMs: number;
  /** Applies the event's effect; a rejection requeues the message. */
  handle(event: OrderEventBody, routingKey: string): Promise<void>;
  /**
   * Runs on every (re)connection before any message is consumed: events may have been missed
   * while disconnected. A rejection drops the connection and retries it later.
   */
  onConnected(): Promise<void>;
  onApplied(): void;
  onPoison(reason: string): void;
  onIgnored(): void;
  onFailed(error: Error): void;
  onDisconnected(error: Error | undefined): void;
}

export interface EventConsumer {
  readonly connected: boolean;
  /** Resolves once connected the first time (or never: use with a timeout). */
  ready(): Promise<void>;
  close(): Promise<void>;
}

const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 10_000;

type Parsed = OrderEventBody | { poison: string } | { ignore: true };

/**
 * The MES's own events carry `status` and `previousStatus`; the CRM's (e.g. an approval) may
 * carry only `orderId`, the status then being the routing key's. Events that name no order id
 * (`order.closed` by externalId) concern no index and are acked.
 */
function parseEvent(content: Buffer, routingKey: string): Parsed {
  let body: unknown;
  try {
    body = JSON.parse(content.toString('utf8'));
  } catch {
    return { poison: 'the body is not JSON' };
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { poison: 'the body is not a JSON object' };
  }
  const { orderId, status, previousStatus } = body as Record<string, unknown>;
  if (orderId === undefined) return { ignore: true };
  if (typeof orderId !== 'number' || !Number.isSafeInteger(orderId) || orderId < 1) {
    return { poison: '"orderId" is not a positive integer' };
  }
  if (status !== undefined && typeof status !== 'string') {
    return { poison: '"status" is not a string' };
  }
  if (
    previousStatus !== null &&
    previousStatus !== undefined &&
    typeof previousStatus !== 'string'
  ) {
    return { poison: '"previousStatus" is not a string or null' };
  }
  const effective = status ?? statusOfRoutingKey(routingKey);
  if (effective === undefined) return { ignore: true };
  return { orderId, status: effective, previousStatus: previousStatus ?? null };
}

export function startConsumer(opts: ConsumerOptions): EventConsumer {
  let closed = false;
  let connection: ChannelModel | undefined;
  let connected = false;
  let attempt = 0;
  let timer: NodeJS.Timeout | undefined;
  const inFlight = new Set<Promise<void>>();
  const waiters = new Map<NodeJS.Timeout, () => void>();
  let resolveReady: () => void = () => undefined;
  const readyPromise = new Promise<void>((resolve) => {
    resolveReady = resolve;
  });

  function schedule(): void {
    if (closed || timer) return;
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** attempt);
    attempt += 1;
    timer = setTimeout(() => {
      timer = undefined;
      void connect();
    }, delay);
    timer.unref();
  }

  function lost(error: Error | undefined): void {
    const was = connected;
    connected = false;
    connection = undefined;
    if (was) opts.onDisconnected(error);
    schedule();
  }

  async function connect(): Promise<void> {
    if (closed) return;
    let conn: ChannelModel | undefined;
    try {
      conn = await amqp.connect(opts.url);
      conn.on('error', () => undefined); // 'close' follows and reconnects
      const ch = await conn.createChannel();
      ch.on('error', () => undefined);
      await ch.assertExchange(opts.exchange, 'topic', { durable: true });
      const { queue } = opts.queue
        ? await ch.assertQueue(opts.queue, { durable: true })
        : await ch.assertQueue('', { exclusive: true, autoDelete: true });
      await ch.bindQueue(queue, opts.exchange, 'order.*');
      await ch.prefetch(opts.prefetch);
      await opts.onConnected();
      if (closed) {
        await conn.close().catch(() => undefined);
        return;
      }
      connection = conn;
      connected = true;
      attempt = 0;
      conn.once('close', (error?: Error) => {
        if (connection === conn) lost(error);
      });
      await ch.consume(queue, (msg) => {
        if (msg) track(onMessage(ch, msg));
      });
      resolveReady();
    } catch {
      connected = false;
      connection = undefined;
      await conn?.close().catch(() => undefined);
      if (!closed) schedule();
    }
  }

  function track(work: Promise<void>): void {
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work));
  }

  function pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        waiters.delete(t);
        resolve();
      }, ms);
      t.unref();
      waiters.set(t, resolve);
    });
  }

  async function onMessage(ch: Channel, msg: ConsumeMessage): Promise<void> {
    const event = parseEvent(msg.content, msg.fields.routingKey);
    if ('poison' in event) {
      opts.onPoison(event.poison);
      safely(() => ch.ack(msg));
      return;
    }
    if ('ignore' in event) {
      opts.onIgnored();
      safely(() => ch.ack(msg));
      return;
    }
    try {
      await opts.handle(event, msg.fields.routingKey);
      opts.onApplied();
      safely(() => ch.ack(msg));
    } catch (error) {
      opts.onFailed(error instanceof Error ? error : new Error(String(error)));
      if (!closed) await pause(opts.retryDelayMs);
      // On a closed channel the broker requeues it anyway.
      safely(() => ch.nack(msg, false, true));
    }
  }

  function safely(fn: () => void): void {
    try {
      fn();
    } catch {
      // The channel closed under the message: the broker redelivers it.
    }
  }

  void connect();

  return {
    get connected() {
      return connected;
    },
    ready: () => readyPromise,
    async close() {
      if (closed) return;
      closed = true;
      if (timer) clearTimeout(timer);
      for (const [t, resolve] of waiters) {
        clearTimeout(t);
        resolve();
      }
      waiters.clear();
      await Promise.allSettled([...inFlight]);
      const conn = connection;
      connection = undefined;
      connected = false;
      await conn?.close().catch(() => undefined);
    },
  };
}
