/**
 * Stable codes of `CacheProxyError`. Callers (the sidecar, the CLI) map them to exit codes
 * and messages, so a code never changes meaning once released.
 * - `BAD_OPTION`: an option of `createCacheProxy` is invalid (programmer error, thrown at
 *   construction; the message names the option and what it accepts).
 * - `LISTEN_FAILED`: the proxy or admin port could not be bound (in use, no permission).
 * - `CLOSED`: `invalidate()` was called after `close()`.
 * - `STORE_UNAVAILABLE`: `invalidate()` could not reach the index store (Redis down or too
 *   slow); the removal is retried in the background and this instance forwards reads of the
 *   affected lists to the MES until it lands.
 */
export type CacheProxyErrorCode = 'BAD_OPTION' | 'LISTEN_FAILED' | 'CLOSED' | 'STORE_UNAVAILABLE';

/** An error of the cache proxy. `code` is stable; `message` says what to do. */
export class CacheProxyError extends Error {
  readonly code: CacheProxyErrorCode;

  constructor(code: CacheProxyErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CacheProxyError';
    this.code = code;
  }
}
