import { MeskitError } from '@meskit/kernel';

/**
 * Stable codes of `CacheProxyError`. Callers (the sidecar, the CLI) map them to exit codes
 * and messages, so a code never changes meaning once released. An invalid option of
 * `createCacheProxy` is the kernel's `InvalidOptionError` (`INVALID_OPTION`) instead, thrown at
 * construction like every meskit factory's; a port that cannot be bound is its `ListenError`
 * (`LISTEN_FAILED`).
 * - `BAD_ARGUMENT`: `invalidate()` was given something that is not an order id.
 * - `CLOSED`: `invalidate()` or `rebuild()` was called after `close()`.
 * - `STORE_UNAVAILABLE`: `invalidate()` could not reach the index store (Redis down or too
 *   slow); the removal is retried in the background and this instance forwards reads of the
 *   affected lists to the MES until it lands.
 */
export type CacheProxyErrorCode = 'BAD_ARGUMENT' | 'CLOSED' | 'STORE_UNAVAILABLE';

/** An error of the cache proxy. `code` is stable; `message` says what to do. */
export class CacheProxyError extends MeskitError<CacheProxyErrorCode> {}
