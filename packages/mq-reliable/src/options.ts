// The options of createPublisher: their types, defaults (one DEFAULTS object) and the
// validation that turns them, once, into the settings the publisher runs with.
import { optionChecks } from '@meskit/kernel';
import type { Registry } from 'prom-client';
import type { Topology } from './internal/topology.js';

export interface PublisherOptions {
  /**
   * The broker's `amqp://` or `amqps://` URL, or several (the nodes of a cluster): connections
   * go to them in turn, the next one after each failure. Required.
   */
  url: string | readonly string[];
  /** Exchanges, queues and bindings declared on every connection. Default: none. */
  topology?: Topology;
  /** Longest a publish waits for its confirm, buffered time included. Default: 30 000 ms. */
  timeoutMs?: number;
  /** Bounds of the messages not yet confirmed (buffered while disconnected, or in flight). */
  buffer?: {
    /** Default: 10 000. */
    maxMessages?: number;
    /** Bodies' bytes. Default: 64 MiB. */
    maxBytes?: number;
    /**
     * When full: `'reject'` fails the publish at once with `BUFFER_FULL`; `'block'` waits for
     * room (within the publish's timeout). Default: `'reject'`.
     */
    overflow?: 'reject' | 'block';
  };
  /** AMQP heartbeat in seconds (a dead TCP peer is noticed within about twice that). Default: 15. */
  heartbeatSeconds?: number;
  /** First reconnect delay; it doubles per failure, with full jitter. Default: 250 ms. */
  reconnectMinMs?: number;
  /** Longest reconnect delay. Default: 10 000 ms. */
  reconnectMaxMs?: number;
  /** Longest wait for a connection attempt (TCP and AMQP handshake). Default: 5 000 ms. */
  connectTimeoutMs?: number;
  /** Names the connection in the broker's management UI. Default: `'meskit-mq-reliable'`. */
  connectionName?: string;
  /** The prom-client registry of the metrics. Default: the process's shared registry. */
  registry?: Registry;
}

export const DEFAULTS = {
  timeoutMs: 30_000,
  maxMessages: 10_000,
  maxBytes: 64 * 1024 * 1024,
  overflow: 'reject',
  heartbeatSeconds: 15,
  reconnectMinMs: 250,
  reconnectMaxMs: 10_000,
  connectTimeoutMs: 5_000,
  connectionName: 'meskit-mq-reliable',
} as const;

export interface ResolvedPublisherOptions {
  urls: readonly string[];
  topology: Topology;
  timeoutMs: number;
  maxMessages: number;
  maxBytes: number;
  overflow: 'reject' | 'block';
  heartbeatSeconds: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  connectTimeoutMs: number;
  connectionName: string;
}

const check = optionChecks('createPublisher');
const MAX_TIMER_MS = 2_147_483_647;

export function resolvePublisherOptions(opts: PublisherOptions): ResolvedPublisherOptions {
  check.object('options', opts, '{ url: "amqp://127.0.0.1:5672" }');
  const urls = typeof opts.url === 'string' ? [opts.url] : opts.url;
  if (!Array.isArray(urls) || urls.length === 0)
    throw check.invalid('url', 'must be an amqp:// URL or a non-empty array of them');
  urls.forEach((url, i) => {
    if (typeof url !== 'string' || !/^amqps?:\/\/[^/]/.test(url))
      throw check.invalid(
        urls.length === 1 ? 'url' : `url[${i}]`,
        'must be an amqp:// or amqps:// URL, e.g. "amqp://user:pass@127.0.0.1:5672"',
      );
  });
  const topology = opts.topology ?? {};
  check.object('topology', topology, '{ exchanges: [{ name: "mes.events" }] }');
  const buffer = opts.buffer ?? {};
  check.object('buffer', buffer, '{ maxMessages: 10000, overflow: "reject" }');
  const int = (name: string, value: unknown, fallback: number, min: number, max: number) =>
    check.integer(name, value ?? fallback, min, max);
  const reconnectMinMs = int(
    'reconnectMinMs',
    opts.reconnectMinMs,
    DEFAULTS.reconnectMinMs,
    1,
    MAX_TIMER_MS,
  );
  const reconnectMaxMs = int(
    'reconnectMaxMs',
    opts.reconnectMaxMs,
    DEFAULTS.reconnectMaxMs,
    1,
    MAX_TIMER_MS,
  );
  if (reconnectMaxMs < reconnectMinMs)
    throw check.invalid('reconnectMaxMs', `must be at least reconnectMinMs (${reconnectMinMs})`);
  return {
    urls: [...urls],
    topology,
    timeoutMs: int('timeoutMs', opts.timeoutMs, DEFAULTS.timeoutMs, 1, MAX_TIMER_MS),
    maxMessages: int('buffer.maxMessages', buffer.maxMessages, DEFAULTS.maxMessages, 1, 10_000_000),
    maxBytes: int(
      'buffer.maxBytes',
      buffer.maxBytes,
      DEFAULTS.maxBytes,
      1,
      Number.MAX_SAFE_INTEGER,
    ),
    overflow: check.oneOf('buffer.overflow', buffer.overflow ?? DEFAULTS.overflow, [
      'reject',
      'block',
    ]),
    heartbeatSeconds: int(
      'heartbeatSeconds',
      opts.heartbeatSeconds,
      DEFAULTS.heartbeatSeconds,
      0,
      3600,
    ),
    reconnectMinMs,
    reconnectMaxMs,
    connectTimeoutMs: int(
      'connectTimeoutMs',
      opts.connectTimeoutMs,
      DEFAULTS.connectTimeoutMs,
      1,
      MAX_TIMER_MS,
    ),
    connectionName: check.text('connectionName', opts.connectionName ?? DEFAULTS.connectionName),
  };
}
