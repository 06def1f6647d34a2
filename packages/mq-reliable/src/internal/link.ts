// One live confirm channel, kept: connect to the brokers in turn with backoff and full jitter,
// declare the topology, and open a new channel (or a new connection) whenever the old one dies.
import { amqpTls, redactUrl, tlsFailure } from '@meskit/kernel';
import amqp, { type ChannelModel, type ConfirmChannel } from 'amqplib';
import { declareTopology, type Topology } from './topology.js';

export interface Link {
  channel: ConfirmChannel;
  /** The broker it is connected to, password removed. */
  broker: string;
  /** Counts channels: a confirm callback of an older generation belongs to a dead channel. */
  generation: number;
}

export interface LinkOptions {
  urls: readonly string[];
  topology: Topology;
  heartbeatSeconds: number;
  connectTimeoutMs: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  connectionName: string;
  /** A channel is ready: send on it. */
  onUp(link: Link): void;
  /** The channel is gone (`error`: why, when the broker said). Sends wait for the next one. */
  onDown(link: Link, error: Error | undefined): void;
  /** A connection attempt failed; the next is scheduled. */
  onConnectFailed(broker: string, error: Error): void;
  /** The broker blocked (resource alarm) or unblocked the connection. */
  onBlocked(blocked: boolean): void;
}

export interface KeptLink {
  readonly current: Link | undefined;
  /**
   * Why the last connection attempt failed (a TLS failure as the kernel's TlsError); cleared
   * once a channel is up.
   */
  readonly lastError: Error | undefined;
  close(): Promise<void>;
}

/**
 * Closes the connection, or destroys its socket when the broker does not answer the close
 * within `ms` (a peer that vanished never sends close-ok, and amqplib would wait forever).
 */
async function closeWithin(model: ChannelModel, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
    timer.unref();
  });
  const outcome = await Promise.race([model.close().catch(() => 'failed' as const), gaveUp]);
  clearTimeout(timer);
  if (outcome === 'timeout') {
    const stream = (model as unknown as { connection?: { stream?: { destroy(): void } } })
      .connection?.stream;
    stream?.destroy();
  }
}

/** The URL with `heartbeat` set, unless it names one itself (amqplib reads it from there). */
function withHeartbeat(url: string, seconds: number): string {
  const parsed = new URL(url);
  if (!parsed.searchParams.has('heartbeat')) parsed.searchParams.set('heartbeat', String(seconds));
  return parsed.toString();
}

/** The broker as stats and warnings name it: no password, no TLS file parameters. */
function brokerName(url: string): string {
  try {
    return redactUrl(amqpTls(url).url);
  } catch {
    return redactUrl(url);
  }
}

export function keepLink(opts: LinkOptions): KeptLink {
  let closed = false;
  let connection: ChannelModel | undefined;
  let current: Link | undefined;
  let generation = 0;
  let attempt = 0;
  let next = 0;
  let timer: NodeJS.Timeout | undefined;
  let lastError: Error | undefined;

  function failed(broker: string, url: string, error: unknown): void {
    const plain = error instanceof Error ? error : new Error(String(error));
    // A refused certificate named as such (host, reason, the URL parameter that fixes it).
    lastError = tlsFailure(plain, url) ?? plain;
    opts.onConnectFailed(broker, lastError);
  }

  function schedule(): void {
    if (closed || timer) return;
    const cap = Math.min(opts.reconnectMaxMs, opts.reconnectMinMs * 2 ** attempt);
    attempt += 1;
    // Full jitter: many publishers that lost the same broker do not come back in step.
    const delay = Math.round(
      opts.reconnectMinMs / 2 + Math.random() * (cap - opts.reconnectMinMs / 2),
    );
    timer = setTimeout(() => {
      timer = undefined;
      void connect();
    }, delay);
    timer.unref();
  }

  function down(link: Link, error: Error | undefined): void {
    if (current !== link) return;
    current = undefined;
    opts.onDown(link, error);
  }

  async function openChannel(model: ChannelModel, broker: string): Promise<void> {
    const channel = await model.createConfirmChannel();
    const link: Link = { channel, broker, generation: ++generation };
    let error: Error | undefined;
    channel.on('error', (e: Error) => {
      error = e;
    });
    channel.on('close', () => {
      down(link, error);
      // The connection lives on (a channel-level error such as a missing exchange): a new
      // channel at once. A dead connection reconnects from its own close handler.
      if (!closed && connection === model) {
        openChannel(model, broker).catch(() => model.close().catch(() => undefined));
      }
    });
    await declareTopology(channel, opts.topology);
    if (closed) {
      await model.close().catch(() => undefined);
      return;
    }
    current = link;
    lastError = undefined;
    opts.onUp(link);
  }

  async function connect(): Promise<void> {
    if (closed) return;
    const url = opts.urls[next % opts.urls.length]!;
    next += 1;
    const broker = brokerName(url);
    let model: ChannelModel;
    try {
      // amqps:// parameters (cacertfile...) into socket options; files read per attempt, so
      // a renewed CA file is picked up by the next connection.
      const tls = amqpTls(url);
      model = await amqp.connect(withHeartbeat(tls.url, opts.heartbeatSeconds), {
        ...tls.options,
        timeout: opts.connectTimeoutMs,
        clientProperties: { connection_name: opts.connectionName },
      });
    } catch (error) {
      failed(broker, url, error);
      schedule();
      return;
    }
    if (closed) {
      await model.close().catch(() => undefined);
      return;
    }
    connection = model;
    model.on('error', () => undefined); // the close that follows says what happened
    model.on('blocked', () => opts.onBlocked(true));
    model.on('unblocked', () => opts.onBlocked(false));
    model.on('close', () => {
      if (connection === model) connection = undefined;
      if (current) down(current, undefined);
      schedule();
    });
    try {
      await openChannel(model, broker);
      attempt = 0;
    } catch (error) {
      failed(broker, url, error);
      await model.close().catch(() => undefined);
    }
  }

  void connect();
  return {
    get current() {
      return current;
    },
    get lastError() {
      return lastError;
    },
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      const open = connection;
      connection = undefined;
      current = undefined;
      if (open) await closeWithin(open, opts.connectTimeoutMs);
    },
  };
}
