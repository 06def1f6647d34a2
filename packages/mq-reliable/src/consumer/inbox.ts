// Inboxes: effect-once per message-id for a consumer that may see a message twice.
// - pgInbox: the message-id is inserted in the transaction the handler writes its effect in;
//   both commit or neither does, so a redelivered message is skipped exactly when its effect
//   exists. A redelivery racing the first copy waits on the row lock, then is skipped.
// - redisInbox: SET NX with a lease while the handler runs, then a longer TTL once done. It is
//   not in the handler's transaction: a process that dies after the effect and before marking
//   it done has the effect again on redelivery (once more at most). Use it for effects that
//   are not in PostgreSQL, and pgInbox for those that are.
import { MeskitError, optionChecks } from '@meskit/kernel';
import { inTransaction, SQL_TABLE, type PoolLike, type Queryable } from '../internal/sql.js';
import { inboxSchemaSql } from '../outbox/schema.js';
import type { Inbox } from './types.js';

export interface PgInboxOptions {
  pool: PoolLike;
  /** Names the consumer: two consumers of one message each have their effect. Required. */
  consumer: string;
  /** Default: `'meskit_inbox'`. */
  table?: string;
}

export interface PgInbox extends Inbox {
  /** Creates the table (IF NOT EXISTS). */
  migrate(): Promise<void>;
  /** Deletes rows older than `olderThanMs` (after which no redelivery is expected). */
  prune(olderThanMs: number): Promise<number>;
}

export function pgInbox(opts: PgInboxOptions): PgInbox {
  const check = optionChecks('pgInbox');
  check.object('options', opts, '{ pool, consumer: "crm-orders" }');
  if (!opts.pool || typeof opts.pool.connect !== 'function')
    throw check.invalid('pool', 'must be a pg.Pool');
  const consumer = check.text('consumer', opts.consumer);
  const table = check.text('table', opts.table ?? 'meskit_inbox');
  if (!SQL_TABLE.test(table))
    throw check.invalid('table', 'must be a lower-case SQL name, "name" or "schema.name"');
  const pool = opts.pool;
  const claim = `INSERT INTO ${table} (consumer, message_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`;
  return {
    run(messageId, effect) {
      return inTransaction(pool, async (client) => {
        const { rowCount } = await client.query(claim, [consumer, messageId]);
        if (rowCount === 0) return { duplicate: true };
        await effect(client);
        return { duplicate: false };
      });
    },
    async migrate() {
      await pool.query(inboxSchemaSql(table));
    },
    async prune(olderThanMs) {
      const result = await pool.query(
        `DELETE FROM ${table} WHERE consumer = $1 AND processed_at < now() - make_interval(secs => $2 / 1000.0)`,
        [consumer, olderThanMs],
      );
      return result.rowCount ?? 0;
    },
  };
}

/** The commands of an ioredis client the Redis inbox uses. */
export interface RedisLike {
  set(key: string, value: string, px: 'PX', ms: number, nx: 'NX'): Promise<'OK' | null>;
  set(key: string, value: string, px: 'PX', ms: number): Promise<'OK' | null>;
  get(key: string): Promise<string | null>;
  del(key: string): Promise<number>;
}

export interface RedisInboxOptions {
  redis: RedisLike;
  consumer: string;
  /** Default: `'meskit:inbox:'`. */
  prefix?: string;
  /** How long a handled message-id is remembered. Default: 7 days. */
  ttlMs?: number;
  /** How long a running handler holds the message-id (longer than any handler). Default: 5 min. */
  leaseMs?: number;
}

/** A copy of the message is being handled elsewhere: retry later. */
export class InboxBusyError extends MeskitError<'INBOX_BUSY'> {
  constructor(messageId: string) {
    super('INBOX_BUSY', `message ${messageId} is being handled by another delivery; retried later`);
  }
}

export function redisInbox(opts: RedisInboxOptions): Inbox {
  const check = optionChecks('redisInbox');
  check.object('options', opts, '{ redis, consumer: "crm-orders" }');
  if (!opts.redis || typeof opts.redis.set !== 'function')
    throw check.invalid('redis', 'must be an ioredis client');
  const consumer = check.text('consumer', opts.consumer);
  const prefix = check.text('prefix', opts.prefix ?? 'meskit:inbox:');
  const ttlMs = check.integer(
    'ttlMs',
    opts.ttlMs ?? 7 * 24 * 3600 * 1000,
    1,
    Number.MAX_SAFE_INTEGER,
  );
  const leaseMs = check.integer(
    'leaseMs',
    opts.leaseMs ?? 5 * 60 * 1000,
    1,
    Number.MAX_SAFE_INTEGER,
  );
  const redis = opts.redis;
  return {
    async run(messageId, effect) {
      const key = `${prefix}${consumer}:${messageId}`;
      if ((await redis.set(key, 'pending', 'PX', leaseMs, 'NX')) !== 'OK') {
        if ((await redis.get(key)) === 'pending') throw new InboxBusyError(messageId);
        return { duplicate: true };
      }
      try {
        await effect(undefined as Queryable | undefined);
      } catch (error) {
        await redis.del(key).catch(() => undefined);
        throw error;
      }
      await redis.set(key, 'done', 'PX', ttlMs);
      return { duplicate: false };
    },
  };
}
