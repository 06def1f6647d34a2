// A database of its own per test file, on the run's PostgreSQL primary.
import pg from 'pg';
import { serviceUrls, uniqueName } from './services.js';

/** Runs `fn` with a client connected to `url`, and closes it whatever happens. */
export async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export type Query = <R extends pg.QueryResultRow = pg.QueryResultRow>(
  sql: string,
  params?: unknown[],
) => Promise<pg.QueryResult<R>>;

export interface TestDatabase {
  url: string;
  name: string;
  /** A query on the test database through a small pool that drop() closes. */
  query: Query;
  drop(): Promise<void>;
}

/**
 * `CREATE DATABASE <prefix>_<random>` on the primary (the run's, or `serverUrl`: a pair of a
 * test's own); drop() removes it (WITH FORCE).
 */
export async function createTestDatabase(
  prefix = 'meskit_test',
  serverUrl?: string,
): Promise<TestDatabase> {
  const databaseUrl = serverUrl ?? serviceUrls().databaseUrl;
  const name = uniqueName(prefix);
  await withClient(databaseUrl, (c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(databaseUrl);
  url.pathname = `/${name}`;
  const pool = new pg.Pool({ connectionString: url.toString(), max: 4 });
  // pool.end() resolves before its sockets have closed; DROP DATABASE ... WITH (FORCE) may then
  // terminate a backend still saying goodbye, which surfaces here instead of as a crash.
  pool.on('error', () => undefined);
  let dropped: Promise<void> | undefined;
  return {
    url: url.toString(),
    name,
    query: (sql, params) => pool.query(sql, params),
    drop() {
      dropped ??= (async () => {
        await pool.end();
        await withClient(databaseUrl, (c) =>
          c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
        );
      })();
      return dropped;
    },
  };
}
