// The read-your-writes context: per request (or message), the newest WAL position its reads
// must see, in AsyncLocalStorage so that it follows the request through every await.
import { AsyncLocalStorage } from 'node:async_hooks';

export interface RywContext {
  /** The newest position this context's reads must see (its writes', or a token it was handed). */
  lsn: bigint | undefined;
  /** A write ran since `lsn` was last read from the primary: read it before the next read. */
  dirty: boolean;
}

export const storage = new AsyncLocalStorage<RywContext>();
