import { MeskitError } from '@meskit/kernel';

/**
 * Stable codes of `DbRouterError`:
 * - `PRIMARY_UNAVAILABLE`: the primary does not answer (down, or failing its health polls);
 *   writes fail at once instead of waiting. Reads go on from the replicas.
 * - `STALE_REPLICAS`: a read carrying a token no replica had replayed within the wait, with
 *   `readYourWrites.fallback: 'error'` (the default sends it to the primary instead).
 * - `INVALID_TOKEN`: a read-your-writes token that is not a pg_lsn (`16/B374D848`).
 * - `CLOSED`: the router was ended.
 */
export type DbRouterErrorCode =
  'PRIMARY_UNAVAILABLE' | 'STALE_REPLICAS' | 'INVALID_TOKEN' | 'CLOSED';

export class DbRouterError extends MeskitError<DbRouterErrorCode> {}
