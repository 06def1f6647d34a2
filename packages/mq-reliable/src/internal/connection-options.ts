// The connection options the publisher and the consumer share: broker URLs, heartbeat,
// reconnect backoff, connect timeout, the connection's name. One definition, one validation.
import { amqpTls, type OptionChecks } from '@meskit/kernel';

export interface ConnectionOptions {
  /**
   * The broker's `amqp://` or `amqps://` URL, or several (the nodes of a cluster): connections
   * go to them in turn, the next one after each failure. `amqps://` takes RabbitMQ's URI
   * parameters `cacertfile`, `certfile`, `keyfile`, `verify`, `server_name_indication` (the
   * kernel's `amqpTls`). Required.
   */
  url: string | readonly string[];
  /** AMQP heartbeat in seconds (a dead TCP peer is noticed within about twice that). Default: 15. */
  heartbeatSeconds?: number;
  /** First reconnect delay; it doubles per failure, with full jitter. Default: 250 ms. */
  reconnectMinMs?: number;
  /** Longest reconnect delay. Default: 10 000 ms. */
  reconnectMaxMs?: number;
  /** Longest wait for a connection attempt (TCP and AMQP handshake). Default: 5 000 ms. */
  connectTimeoutMs?: number;
  /** Names the connection in the broker's management UI. */
  connectionName?: string;
}

export const CONNECTION_DEFAULTS = {
  heartbeatSeconds: 15,
  reconnectMinMs: 250,
  reconnectMaxMs: 10_000,
  connectTimeoutMs: 5_000,
} as const;

export interface ResolvedConnectionOptions {
  urls: readonly string[];
  heartbeatSeconds: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  connectTimeoutMs: number;
  connectionName: string;
}

export const MAX_TIMER_MS = 2_147_483_647;

export function resolveConnectionOptions(
  check: OptionChecks,
  opts: ConnectionOptions,
  defaultName: string,
): ResolvedConnectionOptions {
  const urls = typeof opts.url === 'string' ? [opts.url] : opts.url;
  if (!Array.isArray(urls) || urls.length === 0)
    throw check.invalid('url', 'must be an amqp:// URL or a non-empty array of them');
  urls.forEach((url, i) => {
    if (typeof url !== 'string' || !/^amqps?:\/\/[^/]/.test(url))
      throw check.invalid(
        urls.length === 1 ? 'url' : `url[${i}]`,
        'must be an amqp:// or amqps:// URL, e.g. "amqp://user:pass@127.0.0.1:5672"',
      );
    // TLS parameters checked and their files read now: a TlsError at construction.
    amqpTls(url);
  });
  const d = CONNECTION_DEFAULTS;
  const ms = (name: string, value: number | undefined, fallback: number) =>
    check.integer(name, value ?? fallback, 1, MAX_TIMER_MS);
  const reconnectMinMs = ms('reconnectMinMs', opts.reconnectMinMs, d.reconnectMinMs);
  const reconnectMaxMs = ms('reconnectMaxMs', opts.reconnectMaxMs, d.reconnectMaxMs);
  if (reconnectMaxMs < reconnectMinMs)
    throw check.invalid('reconnectMaxMs', `must be at least reconnectMinMs (${reconnectMinMs})`);
  return {
    urls: [...urls],
    heartbeatSeconds: check.integer(
      'heartbeatSeconds',
      opts.heartbeatSeconds ?? d.heartbeatSeconds,
      0,
      3600,
    ),
    reconnectMinMs,
    reconnectMaxMs,
    connectTimeoutMs: ms('connectTimeoutMs', opts.connectTimeoutMs, d.connectTimeoutMs),
    connectionName: check.text('connectionName', opts.connectionName ?? defaultName),
  };
}
