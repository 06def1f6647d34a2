// The MES on @meskit/db-router (DATABASE_REPLICA_URL set): reads on the replicas, writes on the
// primary, and each HTTP request a read-your-writes context: it starts from the token the
// client sent (`x-meskit-lsn`), and the answer to a write hands the new position back in the
// same header, so a client (cache-proxy) never reads older data than it was told about.
// Loaded only then: the legacy MES keeps its one pool and does not import db-router.
import type pg from 'pg';
import { ApiError } from '../errors.js';
import type { Logger } from './log.js';
import { reasonOf } from './log.js';

/** Decisions about a query that reads: a plain read, wherever it ended up. */
const READ_REASONS = new Set(['read', 'no-replica', 'ryw-fallback', 'retry', 'primary-down']);

export interface DbContext {
  /** Runs `work` in a context that starts at `token` (a bad token: 400 INVALID_TOKEN). */
  run<T>(token: string | undefined, work: () => Promise<T>): Promise<T>;
  /** The position the current context's writes reached, as a token. */
  token(): Promise<string | undefined>;
  /** Where the queries went, and each replica's state, for GET /internal/stats. */
  stats(): DatabaseStats;
}

export interface DatabaseStats {
  /** Reads (plain SELECTs, whichever server answered them) by where they went. */
  reads: { primary: number; replica: number };
  replicas: { name: string; inService: boolean; lagSeconds: number; lagBytes: number }[];
}

export async function createRoutedPool(
  databaseUrl: string,
  replicaUrls: readonly string[],
  logger: Logger,
): Promise<{ pool: pg.Pool; context: DbContext }> {
  const { createRouter, DbRouterError } = await import('@meskit/db-router');
  const reads = { primary: 0, replica: 0 };
  const router = createRouter({
    primary: { connectionString: databaseUrl, max: 10 },
    replicas: replicaUrls.map((url) => ({ connectionString: url, max: 10 })),
    onDecision(d) {
      if (READ_REASONS.has(d.reason)) reads[d.target] += 1;
      logger.debug(
        { event: 'db_route', target: d.target, server: d.server, reason: d.reason },
        'query routed',
      );
    },
  });
  router.on('error', (err: Error) => {
    logger.error(
      { event: 'db_idle_client_error', reason: reasonOf(err) },
      'an idle database connection failed',
    );
  });
  return {
    // pg.Pool-compatible: query, connect, end, on, the counts.
    pool: router as unknown as pg.Pool,
    context: {
      run(token, work) {
        try {
          return router.context(work, { token });
        } catch (error) {
          if (error instanceof DbRouterError && error.code === 'INVALID_TOKEN')
            throw new ApiError(400, 'INVALID_TOKEN', `${error.message} (the x-meskit-lsn header)`);
          throw error;
        }
      },
      token: () => router.token(),
      stats() {
        const { servers } = router.stats();
        return {
          reads: { ...reads },
          replicas: servers
            .filter((s) => s.role === 'replica')
            .map(({ name, inService, lagSeconds, lagBytes }) => ({
              name,
              inService,
              lagSeconds,
              lagBytes,
            })),
        };
      },
    },
  };
}
