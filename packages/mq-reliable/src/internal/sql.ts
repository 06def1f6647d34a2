// What the outbox and the inbox need from node-postgres, typed structurally: a pg.Pool, a
// pg.PoolClient or a pg.Client fits, and the package does not depend on pg itself.

export interface QueryResultLike<Row> {
  rows: Row[];
  rowCount: number | null;
}

/** Anything that runs a parameterised query: a pg client (in a transaction) or a pool. */
export interface Queryable {
  query<Row = Record<string, unknown>>(
    text: string,
    values?: unknown[],
  ): Promise<QueryResultLike<Row>>;
}

/** A client checked out of a pool; `release(error)` destroys it instead of reusing it. */
export interface PooledClient extends Queryable {
  release(error?: Error | boolean): void;
  on?(event: 'notification', listener: (message: { channel: string }) => void): unknown;
  on?(event: 'error', listener: (error: Error) => void): unknown;
  removeAllListeners?(event?: string): unknown;
}

/** A pg.Pool, or anything with the same `connect()`. */
export interface PoolLike extends Queryable {
  connect(): Promise<PooledClient>;
}

/** A table name as written in SQL: `name` or `schema.name`, lower case. */
export const SQL_TABLE = /^[a-z_][a-z0-9_]{0,62}(\.[a-z_][a-z0-9_]{0,62})?$/;

/** Runs `work` in a transaction on a client of its own; rolls back and rethrows on error. */
export async function inTransaction<T>(
  pool: PoolLike,
  work: (client: PooledClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch((e: Error) => {
      broken = e;
    });
    throw error;
  } finally {
    client.release(broken);
  }
}
