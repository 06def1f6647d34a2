// The doctor's Redis connection: one attempt, the first answer, nothing left open. Shared by
// the single-Redis check and the Sentinel and Cluster checks (redis-ha.ts).
import { Redis, type RedisOptions } from 'ioredis';
import { onAbort } from '../../internal/check-helpers.js';
import type { CheckContext } from '../types.js';

const DISCONNECT_GRACE_MS = 100;

export interface DoctorRedis {
  readonly redis: Redis;
  /** The last error the client emitted (ECONNREFUSED, WRONGPASS...), worth more than connect()'s. */
  lastError(): unknown;
  /** Disconnects (safe to call twice) and stops listening for the check's abort. */
  close(): void;
}

/** A lazily connecting client of `url` (or of `options` alone), closed when the check aborts. */
export function doctorRedis(
  ctx: CheckContext,
  url: string | undefined,
  options: RedisOptions,
): DoctorRedis {
  const settings: RedisOptions = {
    ...options,
    lazyConnect: true,
    connectTimeout: ctx.timeoutMs,
    // A diagnosis wants the first answer, not ioredis' patient reconnect loop.
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    connectionName: 'meskit-doctor',
    // How long disconnect() lets a half-closed socket linger before destroying it; its
    // timer holds the process open, and a doctor has nothing to flush.
    disconnectTimeout: DISCONNECT_GRACE_MS,
  };
  const redis = url === undefined ? new Redis(settings) : new Redis(url, settings);
  // Without a listener ioredis prints "[ioredis] Unhandled error event" and a stack to
  // stderr. With retries off, connect() then rejects with a bare "Connection is closed.",
  // so the event's error (ECONNREFUSED, WRONGPASS...) is the one worth reporting.
  let lastError: unknown;
  redis.on('error', (err: unknown) => {
    lastError = err;
  });
  const disconnect = () => {
    // ioredis arms a timer in disconnect() that only a later 'close' event clears; on a
    // connection that already ended, that event never comes and the timer would hold
    // the process open for seconds.
    if (redis.status !== 'end') redis.disconnect();
  };
  const detach = onAbort(ctx.signal, disconnect);
  return {
    redis,
    lastError: () => lastError,
    close() {
      detach();
      disconnect();
    },
  };
}
