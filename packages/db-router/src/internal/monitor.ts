// The one poller per server: every `intervalMs`, the primary's insert position and each
// replica's replay position, recovery state and lag, from which the router knows which
// replicas may serve a read (healthy, not too far behind) and which one has replayed a token.
// Reads never query a replica's position themselves: they read the last poll.
import { tlsFailure } from '@meskit/kernel';
import type pg from 'pg';
import { parseLsn } from '../lsn.js';

export interface ServerState {
  /** `host:port`, for logs and metrics. */
  readonly name: string;
  readonly pool: pg.Pool;
  /** Answered its last poll. */
  up: boolean;
  /** Polls failed in a row. */
  failures: number;
  /** `pg_is_in_recovery()` at the last poll (a promoted replica reports false). */
  inRecovery: boolean | undefined;
  /** Replicas: `pg_last_wal_replay_lsn()`; the primary: `pg_current_wal_insert_lsn()`. */
  lsn: bigint | undefined;
  /** Replicas: bytes behind the primary's position of the same poll round. */
  lagBytes: number;
  /** Replicas: seconds since the last replayed transaction, 0 when nothing is left to replay. */
  lagSeconds: number;
  /** In the read rotation: up, in recovery, within the lag limit. */
  inService: boolean;
  lastError: string | undefined;
}

export interface MonitorOptions {
  intervalMs: number;
  maxLagSeconds: number;
  /** Failed polls in a row that take a server out. */
  failuresToOut: number;
  queryTimeoutMs: number;
  onChange(server: ServerState, change: 'out' | 'in' | 'promoted'): void;
}

export function newServer(name: string, pool: pg.Pool): ServerState {
  return {
    name,
    pool,
    up: false,
    failures: 0,
    inRecovery: undefined,
    lsn: undefined,
    lagBytes: 0,
    lagSeconds: 0,
    inService: false,
    lastError: undefined,
  };
}

interface PollRow {
  recovery: boolean;
  lsn: string | null;
  replay_age: number | null;
}

const POLL_SQL = `SELECT pg_is_in_recovery() AS recovery,
  (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_insert_lsn() END)::text AS lsn,
  extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 AS replay_age`;

async function pollOne(server: ServerState, timeoutMs: number): Promise<PollRow> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const result = await Promise.race([
      server.pool.query<PollRow>(POLL_SQL),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
        timer.unref();
      }),
    ]);
    return result.rows[0]!;
  } finally {
    clearTimeout(timer);
  }
}

export interface Monitor {
  /** One round now (tests; start-up). */
  poll(): Promise<void>;
  /** Resolves after the next completed round, or after `ms`. */
  nextRound(ms: number): Promise<void>;
  stop(): void;
}

/**
 * Polls `servers()` (the current primary first, then the replicas) every interval. A replica
 * found out of recovery (promoted) is reported with 'promoted'.
 */
export function startMonitor(
  servers: () => { primary: ServerState; replicas: readonly ServerState[] },
  o: MonitorOptions,
): Monitor {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const waiters = new Set<() => void>();
  let running: Promise<void> | undefined;

  function setService(server: ServerState, inService: boolean): void {
    if (server.inService === inService) return;
    server.inService = inService;
    o.onChange(server, inService ? 'in' : 'out');
  }

  async function round(): Promise<void> {
    const { primary, replicas } = servers();
    const all = [primary, ...replicas];
    const rows = await Promise.all(
      all.map((s) =>
        pollOne(s, o.queryTimeoutMs).then(
          (row) => ({ server: s, row, error: undefined }),
          (error: unknown) => ({ server: s, row: undefined, error }),
        ),
      ),
    );
    for (const { server, row, error } of rows) {
      if (!row) {
        server.failures += 1;
        // A refused certificate says so, with the server and the sslrootcert that fixes it.
        const tls = tlsFailure(error, `postgres://${server.name}`);
        server.lastError = tls?.message ?? (error instanceof Error ? error.message : String(error));
        if (server.failures >= o.failuresToOut) server.up = false;
        continue;
      }
      server.failures = 0;
      server.up = true;
      server.lastError = undefined;
      const wasRecovering = server.inRecovery;
      server.inRecovery = row.recovery;
      server.lsn = parseLsn(row.lsn) ?? server.lsn;
      if (server !== primary && wasRecovering === true && !row.recovery)
        o.onChange(server, 'promoted');
    }
    const primaryLsn = primary.up ? primary.lsn : undefined;
    for (const { server, row } of rows) {
      if (server === primary) continue;
      if (!row || !server.up) {
        setService(server, false);
        continue;
      }
      const behind =
        primaryLsn !== undefined && server.lsn !== undefined && primaryLsn > server.lsn
          ? Number(primaryLsn - server.lsn)
          : 0;
      server.lagBytes = behind;
      // The replay timestamp only means lag while there is something left to replay: an idle
      // primary would otherwise make a caught-up replica look ever further behind.
      server.lagSeconds = behind > 0 ? Math.max(0, row.replay_age ?? 0) : 0;
      setService(server, row.recovery && server.lagSeconds <= o.maxLagSeconds);
    }
    for (const wake of waiters) wake();
  }

  function schedule(): void {
    if (stopped) return;
    timer = setTimeout(() => {
      running = round()
        .catch(() => undefined)
        .finally(() => {
          running = undefined;
          schedule();
        });
    }, o.intervalMs);
    timer.unref();
  }
  schedule();

  return {
    async poll() {
      await running;
      await round();
    },
    nextRound(ms) {
      return new Promise<void>((resolve) => {
        const t = setTimeout(done, ms);
        t.unref();
        function done(): void {
          clearTimeout(t);
          waiters.delete(done);
          resolve();
        }
        waiters.add(done);
      });
    },
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      for (const wake of waiters) wake();
    },
  };
}
