// The options of createOutbox: types, defaults and their validation.
import { optionChecks } from '@meskit/kernel';
import type { Registry } from 'prom-client';
import type { Publisher } from '../types.js';
import { SQL_TABLE, type PoolLike } from '../internal/sql.js';

export interface OutboxOptions {
  /** The MES's pg.Pool (or anything with `query` and `connect`). Required. */
  pool: PoolLike;
  /**
   * The publisher the relay sends with. Without it the outbox only writes rows (another
   * process relays them).
   */
  publisher?: Publisher;
  /** `name` or `schema.name`. Default: `'meskit_outbox'`. */
  table?: string;
  /** The relay's settings. */
  relay?: {
    /** Rows taken per round. Default: 200. */
    batchSize?: number;
    /** Longest pause between rounds when nothing woke the relay. Default: 1 000 ms. */
    pollIntervalMs?: number;
    /**
     * Wake the relay on commit with LISTEN/NOTIFY (one pooled connection held for it), so a
     * message leaves within milliseconds instead of at the next poll. Default: true.
     */
    listen?: boolean;
    /** A publish's bound inside a round (its rows stay locked meanwhile). Default: 10 000 ms. */
    publishTimeoutMs?: number;
    /** First retry delay of a row whose publish failed; doubles per attempt. Default: 1 000 ms. */
    retryMinMs?: number;
    /** Longest retry delay. Default: 60 000 ms. */
    retryMaxMs?: number;
  };
  /** Removal of sent rows. */
  prune?: {
    /** Sent rows older than this are deleted. Default: 24 h. */
    retentionMs?: number;
    /** Default: 60 000 ms. */
    intervalMs?: number;
  };
  /** The NOTIFY channel. Default: the table name with `_` for `.`. */
  channel?: string;
  /** The prom-client registry. Default: the process's shared registry. */
  registry?: Registry;
}

export const OUTBOX_DEFAULTS = {
  table: 'meskit_outbox',
  batchSize: 200,
  pollIntervalMs: 1_000,
  listen: true,
  publishTimeoutMs: 10_000,
  retryMinMs: 1_000,
  retryMaxMs: 60_000,
  retentionMs: 24 * 3600 * 1000,
  pruneIntervalMs: 60_000,
} as const;

export interface ResolvedOutboxOptions {
  table: string;
  channel: string;
  batchSize: number;
  pollIntervalMs: number;
  listen: boolean;
  publishTimeoutMs: number;
  retryMinMs: number;
  retryMaxMs: number;
  retentionMs: number;
  pruneIntervalMs: number;
}

const check = optionChecks('createOutbox');
const MAX_TIMER_MS = 2_147_483_647;

export function resolveOutboxOptions(opts: OutboxOptions): ResolvedOutboxOptions {
  check.object('options', opts, '{ pool, publisher }');
  const pool = opts.pool as Partial<PoolLike> | undefined;
  if (!pool || typeof pool.query !== 'function' || typeof pool.connect !== 'function')
    throw check.invalid('pool', 'must be a pg.Pool (an object with query() and connect())');
  if (opts.publisher !== undefined && typeof opts.publisher.publish !== 'function')
    throw check.invalid('publisher', 'must be a publisher from createPublisher()');
  const table = check.text('table', opts.table ?? OUTBOX_DEFAULTS.table);
  if (!SQL_TABLE.test(table))
    throw check.invalid('table', 'must be a lower-case SQL name, "name" or "schema.name"');
  const relay = opts.relay ?? {};
  check.object('relay', relay, '{ batchSize: 200 }');
  const prune = opts.prune ?? {};
  check.object('prune', prune, '{ retentionMs: 86400000 }');
  const int = (name: string, value: number | undefined, fallback: number, min = 1) =>
    check.integer(name, value ?? fallback, min, MAX_TIMER_MS);
  const retryMinMs = int('relay.retryMinMs', relay.retryMinMs, OUTBOX_DEFAULTS.retryMinMs);
  const retryMaxMs = int('relay.retryMaxMs', relay.retryMaxMs, OUTBOX_DEFAULTS.retryMaxMs);
  if (retryMaxMs < retryMinMs)
    throw check.invalid('relay.retryMaxMs', `must be at least relay.retryMinMs (${retryMinMs})`);
  const channel = check.text('channel', opts.channel ?? table.replace('.', '_'));
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(channel))
    throw check.invalid('channel', 'must be a lower-case SQL identifier');
  return {
    table,
    channel,
    batchSize: check.integer(
      'relay.batchSize',
      relay.batchSize ?? OUTBOX_DEFAULTS.batchSize,
      1,
      10_000,
    ),
    pollIntervalMs: int(
      'relay.pollIntervalMs',
      relay.pollIntervalMs,
      OUTBOX_DEFAULTS.pollIntervalMs,
    ),
    listen: check.boolean('relay.listen', relay.listen ?? OUTBOX_DEFAULTS.listen),
    publishTimeoutMs: int(
      'relay.publishTimeoutMs',
      relay.publishTimeoutMs,
      OUTBOX_DEFAULTS.publishTimeoutMs,
    ),
    retryMinMs,
    retryMaxMs,
    retentionMs: int('prune.retentionMs', prune.retentionMs, OUTBOX_DEFAULTS.retentionMs, 0),
    pruneIntervalMs: int('prune.intervalMs', prune.intervalMs, OUTBOX_DEFAULTS.pruneIntervalMs),
  };
}
