// Bounded Redis commands. A cache must answer from its origin when Redis is slow or away, so
// no command may wait longer than its budget, nor queue behind a reconnect that may not come.

/** What the helper needs of an ioredis `Redis` or `Cluster` client. */
export interface RedisStatus {
  readonly status: string;
}

/** Connection states in which a command would only wait for a reconnect that may not come. */
const DOWN: ReadonlySet<string> = new Set(['reconnecting', 'close', 'end']);

/** True when a command sent now could not be answered until the client reconnects. */
export function redisDown(client: RedisStatus): boolean {
  return DOWN.has(client.status);
}

/** Runs one Redis command and rejects when it does not answer within `timeoutMs`. */
export type BoundedCall = <T>(operation: string, command: () => Promise<T>) => Promise<T>;

/**
 * A runner of commands on `client` that rejects at once while the connection is down and
 * after `timeoutMs` otherwise. A command answered after its timeout may still have landed on
 * the server: callers must treat a rejection as "unknown", not "not done".
 */
export function boundedRedis(client: RedisStatus, timeoutMs: number): BoundedCall {
  return <T>(operation: string, command: () => Promise<T>): Promise<T> => {
    if (redisDown(client)) {
      return Promise.reject(new Error(`Redis connection is ${client.status}`));
    }
    let run: Promise<T>;
    try {
      run = command();
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    run.catch(() => undefined); // settled after the timeout: nobody listens any more
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`Redis did not answer ${operation} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      timer.unref();
    });
    return Promise.race([run, timeout]).finally(() => clearTimeout(timer));
  };
}

/** What `quitRedis` needs of an ioredis client. */
export interface QuittableRedis extends RedisStatus {
  quit(): Promise<unknown>;
  disconnect(): void;
}

/**
 * Closes a client the caller created: QUIT (commands already sent still land) within
 * `timeoutMs`, and a plain disconnect when the server does not answer in time or is gone.
 */
export async function quitRedis(client: QuittableRedis, timeoutMs: number): Promise<void> {
  if (client.status === 'end') return;
  try {
    await boundedRedis(client, timeoutMs)('QUIT', () => client.quit());
  } catch {
    client.disconnect();
  }
}
