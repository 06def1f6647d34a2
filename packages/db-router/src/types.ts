// The router's public types.
import type { EventEmitter } from 'node:events';
import type pg from 'pg';
import type { RouteReason } from './internal/route.js';

export type { RouteReason } from './internal/route.js';

/** Why a query went where it went, as `onDecision` and the metrics see it. */
export interface RouteDecision {
  target: 'primary' | 'replica';
  /** The replica's `host:port`, or the primary's. */
  server: string;
  /**
   * The classifier's reason, or: `forced` (`router.primary()`), `no-replica` (none in
   * service), `ryw-fallback` (no replica had replayed the context's position in time),
   * `primary-down` (a read the primary would have served, from a replica), `retry` (the first
   * replica failed; this is where the read went next), `read-only` (a statement on a
   * `connect({ readOnly: true })` client, on a replica).
   */
  reason:
    RouteReason | 'forced' | 'no-replica' | 'ryw-fallback' | 'primary-down' | 'retry' | 'read-only';
  text: string;
}

export interface ServerStatus {
  name: string;
  role: 'primary' | 'replica';
  up: boolean;
  inService: boolean;
  lsn: string | undefined;
  lagBytes: number;
  lagSeconds: number;
  lastError: string | undefined;
}

export interface RouterStats {
  servers: ServerStatus[];
  /** Queries by where they went. */
  queries: { primary: number; replica: number };
  /** Reads that carried a position: served by a replica at once, after a wait, or by the primary. */
  readYourWrites: { replica: number; waited: number; fallback: number };
}

/** Anything with pg's `query` (what `router.primary()` returns). */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string | pg.QueryConfig,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>>;
}

export interface Router extends EventEmitter, Queryable {
  /**
   * A client, for transactions. By default of the primary: every statement on it goes there.
   * With `readOnly: true`, of a replica that has replayed the context's position (chosen as a
   * read would be), for a `BEGIN READ ONLY` transaction or a series of reads that must see one
   * snapshot; when no replica may serve, of the primary with `default_transaction_read_only`
   * on while it is lent, so a write is refused on either ("cannot execute INSERT in a
   * read-only transaction").
   */
  connect(opts?: { readOnly?: boolean }): Promise<pg.PoolClient>;
  /** pg's callback form; `done(error?)` releases the client. */
  connect(
    callback: (
      error: Error | undefined,
      client: pg.PoolClient | undefined,
      done: (release?: Error | boolean) => void,
    ) => void,
  ): void;
  /** pg's callback forms of `query`. */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string | pg.QueryConfig,
    callback: (error: Error | undefined, result: pg.QueryResult<R>) => void,
  ): void;
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string | pg.QueryConfig,
    values: unknown[],
    callback: (error: Error | undefined, result: pg.QueryResult<R>) => void,
  ): void;
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string | pg.QueryConfig,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>>;
  /** Queries that go to the primary whatever they are. */
  primary(): Queryable;
  /**
   * Runs `fn` in a read-your-writes context: reads in it see its own writes, and the position
   * `token` names (an `x-meskit-lsn` from a response or a message). Throws INVALID_TOKEN for a
   * token that is not a pg_lsn.
   */
  context<T>(fn: () => T, opts?: { token?: string | undefined }): T;
  /** The current context's position as a token (`16/B374D848`), or undefined. */
  token(): Promise<string | undefined>;
  stats(): RouterStats;
  readonly totalCount: number;
  readonly idleCount: number;
  readonly waitingCount: number;
  /** Stops polling and ends every pool. Safe to call twice. */
  end(): Promise<void>;
}
