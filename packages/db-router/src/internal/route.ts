// What the classifier decides for one SQL text.

/** Why a statement goes where it goes; the `reason` label of `meskit_db_queries_total`. */
export type RouteReason =
  /** A plain read: SELECT (or VALUES, SHOW, TABLE) without locking, volatile calls or writes. */
  | 'read'
  /** INSERT, UPDATE, DELETE, MERGE, DDL, COPY, anything that changes data or state. */
  | 'write'
  /** SELECT ... FOR UPDATE / FOR SHARE. */
  | 'locking'
  /** A call of a volatile function (nextval, setval, pg_advisory_lock, user functions...). */
  | 'volatile'
  /** A WITH holding an INSERT, UPDATE, DELETE or MERGE. */
  | 'modifying-cte'
  /** Transaction control (BEGIN, COMMIT, SET TRANSACTION, SAVEPOINT...): always the primary. */
  | 'transaction'
  /** Several statements in one text. */
  | 'multi-statement'
  /** The `meskit:primary` comment hint. */
  | 'hint'
  /** What the parser could not read: the primary, to be safe. */
  | 'unknown';

export interface Route {
  target: 'primary' | 'replica';
  reason: RouteReason;
  /** Whether it may have written (the context's read-your-writes position moves). */
  writes: boolean;
  /** Function names the statement calls (lower case), for the volatility check. */
  functions: readonly string[];
}
