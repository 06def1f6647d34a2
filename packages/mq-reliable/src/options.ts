// The options of createPublisher: their types, defaults (one DEFAULTS object) and the
// validation that turns them, once, into the settings the publisher runs with.
import { optionChecks } from '@meskit/kernel';
import {
  CONNECTION_DEFAULTS,
  MAX_TIMER_MS,
  resolveConnectionOptions,
  type ConnectionOptions,
  type ResolvedConnectionOptions,
} from './internal/connection-options.js';
import type { Registry } from 'prom-client';
import type { Topology } from './internal/topology.js';

export interface PublisherOptions extends ConnectionOptions {
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
  ...CONNECTION_DEFAULTS,
  connectionName: 'meskit-mq-reliable',
} as const;

export interface ResolvedPublisherOptions extends ResolvedConnectionOptions {
  topology: Topology;
  timeoutMs: number;
  maxMessages: number;
  maxBytes: number;
  overflow: 'reject' | 'block';
}

const check = optionChecks('createPublisher');

export function resolvePublisherOptions(opts: PublisherOptions): ResolvedPublisherOptions {
  check.object('options', opts, '{ url: "amqp://127.0.0.1:5672" }');
  const connection = resolveConnectionOptions(check, opts, DEFAULTS.connectionName);
  const topology = opts.topology ?? {};
  check.object('topology', topology, '{ exchanges: [{ name: "mes.events" }] }');
  const buffer = opts.buffer ?? {};
  check.object('buffer', buffer, '{ maxMessages: 10000, overflow: "reject" }');
  const int = (name: string, value: unknown, fallback: number, min: number, max: number) =>
    check.integer(name, value ?? fallback, min, max);
  return {
    ...connection,
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
  };
}
