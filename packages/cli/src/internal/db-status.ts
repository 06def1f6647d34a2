// What db-router's poller sees of a primary and its replicas, read once: shared by
// `meskit db status` and the `db-router` doctor check. db-router is imported when called: it
// loads PostgreSQL's parser (WebAssembly, about 136 MB of memory reserved) at import, which
// every other command, `meskit cache-proxy` among them, would otherwise carry for nothing.
import type { ServerStatus } from '@meskit/db-router';
import { Registry } from 'prom-client';

export interface DbStatus {
  servers: ServerStatus[];
  /** What is wrong, one line each: the primary silent, no replica in service. */
  problems: string[];
}

export async function readDbStatus(opts: {
  primary: string;
  replicas: readonly string[];
  timeoutMs: number;
}): Promise<DbStatus> {
  const server = (url: string) => ({
    connectionString: url,
    connectionTimeoutMillis: opts.timeoutMs,
    max: 1,
  });
  const { createRouter } = await import('@meskit/db-router');
  const router = createRouter({
    primary: server(opts.primary),
    replicas: opts.replicas.map(server),
    pollIntervalMs: 100,
    failuresToOut: 1,
    registry: new Registry(),
  });
  try {
    // Until every server answered (or failed) a poll, then one more round: a replica's lag is
    // measured against the primary's position of the same round.
    const deadline = Date.now() + opts.timeoutMs;
    const answered = () =>
      router
        .stats()
        .servers.every((s) => (s.up && s.lsn !== undefined) || s.lastError !== undefined);
    while (Date.now() < deadline && !answered())
      await new Promise((resolve) => setTimeout(resolve, 50));
    await new Promise((resolve) => setTimeout(resolve, 150));
    const { servers } = router.stats();
    const problems = [
      ...(servers[0]?.up ? [] : [`the primary ${servers[0]?.name} does not answer`]),
      ...(opts.replicas.length > 0 && !servers.slice(1).some((s) => s.inService)
        ? ['no replica is in service: every read goes to the primary']
        : []),
    ];
    return { servers, problems };
  } finally {
    await router.end();
  }
}
