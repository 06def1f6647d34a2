import pg from 'pg';
import {
  endpointOf,
  formatBytes,
  formatSeconds,
  urlCheck,
  onAbort,
  pause,
} from '../../internal/check-helpers.js';
import { describeError } from '../describe-error.js';
import { tlsFactsOf, withTls, type TlsFacts } from '../tls-facts.js';
import type { CheckContext, CheckOutcome, DoctorCheck } from '../types.js';

const DEFAULT_PORT = 5432;

// A standby that just received a WAL record without a transaction in it (a checkpoint,
// the bgwriter's running-xacts snapshot) is a few bytes behind for a few milliseconds;
// on an idle system its last replayed transaction may be minutes old. Before calling that
// "minutes of lag", look again once: a real backlog is still there.
const LAG_RECHECK_MAX_MS = 250;

/** `postgres.primary`: connects, reads the version, and insists the server is not a standby. */
export const postgresPrimaryCheck: DoctorCheck = urlCheck({
  id: 'postgres.primary',
  title: 'PostgreSQL primary',
  setting: 'databaseUrl',
  async run(ctx, url) {
    const endpoint = endpointOf(url, DEFAULT_PORT);
    let tls: TlsFacts = { encrypted: false };
    const row = await withClient(url, 'primary', ctx, ctx.timeoutMs, async (client) => {
      tls = tlsOf(client);
      const result = await client.query<{
        version: string;
        version_num: string;
        in_recovery: boolean;
        read_only: string;
      }>(
        `SELECT current_setting('server_version') AS version,
                current_setting('server_version_num') AS version_num,
                pg_is_in_recovery() AS in_recovery,
                current_setting('default_transaction_read_only') AS read_only`,
      );
      return result.rows[0];
    });
    if (!row) throw new Error(`the PostgreSQL primary at ${endpoint} returned no row`);
    const version = shortVersion(row.version);
    const details = { endpoint, version: row.version, versionNum: Number(row.version_num) };
    if (row.in_recovery) {
      return withTls(
        {
          status: 'fail',
          message: `${endpoint} is a standby (in recovery), not a primary: point --database-url / DATABASE_URL at the primary`,
          details: { ...details, inRecovery: true },
        },
        tls,
      );
    }
    if (row.read_only === 'on') {
      return withTls(
        {
          status: 'warn',
          message: `PostgreSQL ${version} at ${endpoint} is a primary, but default_transaction_read_only is on: writes will fail unless sessions turn it off`,
          details: { ...details, inRecovery: false, defaultTransactionReadOnly: true },
        },
        tls,
      );
    }
    return withTls(
      {
        status: 'pass',
        message: `PostgreSQL ${version} at ${endpoint}, primary (accepting writes)`,
        details: { ...details, inRecovery: false },
      },
      tls,
    );
  },
});

interface ReplicaRow {
  version: string;
  in_recovery: boolean;
  receive_lsn: string | null;
  replay_lsn: string | null;
  replay_backlog_bytes: number | null;
  replay_age_seconds: number | null;
  has_wal_receiver: boolean;
  wal_receiver_status: string | null;
}

type PrimaryPosition =
  | { readonly kind: 'known'; readonly lsn: string }
  | { readonly kind: 'unknown'; readonly reason: string };

/**
 * `postgres.replica`: connects, insists the server is a standby, checks that it streams
 * WAL and measures how far behind the primary it is, in bytes (needs the primary's URL)
 * and seconds. Warns above `maxLagSeconds`; fails when unreachable or not a standby.
 */
export const postgresReplicaCheck: DoctorCheck = urlCheck({
  id: 'postgres.replica',
  title: 'PostgreSQL replica',
  setting: 'replicaUrl',
  async run(ctx, url) {
    const endpoint = endpointOf(url, DEFAULT_PORT);
    // Started before touching the replica: the primary's position must be read no later
    // than the replica's replay position, or a busy primary would show as "ahead of itself".
    const primaryPosition = readPrimaryPosition(ctx);
    return withClient(url, 'replica', ctx, ctx.timeoutMs, async (client) =>
      withTls(await inspectReplica(client), tlsOf(client)),
    );
    async function inspectReplica(client: pg.Client): Promise<CheckOutcome> {
      const { rows } = await client.query<ReplicaRow>(
        `SELECT current_setting('server_version') AS version,
                pg_is_in_recovery() AS in_recovery,
                pg_last_wal_receive_lsn()::text AS receive_lsn,
                pg_last_wal_replay_lsn()::text AS replay_lsn,
                pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::float8
                  AS replay_backlog_bytes,
                EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8
                  AS replay_age_seconds,
                EXISTS (SELECT 1 FROM pg_stat_wal_receiver) AS has_wal_receiver,
                (SELECT status FROM pg_stat_wal_receiver LIMIT 1) AS wal_receiver_status`,
      );
      const row = rows[0];
      if (!row) throw new Error('the replica returned no row');
      if (!row.in_recovery) {
        return {
          status: 'fail',
          message: `${endpoint} is not a replica (not in recovery; was it promoted?): point --replica-url / DATABASE_REPLICA_URL at a streaming replica`,
          details: { endpoint, version: row.version, inRecovery: false },
        };
      }
      const primary = await primaryPosition;
      let lagBytes = primary.kind === 'known' ? await bytesBehind(client, primary.lsn) : null;
      if (
        primary.kind === 'known' &&
        lagBytes !== null &&
        lagBytes > 0 &&
        row.replay_age_seconds !== null &&
        row.replay_age_seconds > ctx.config.maxLagSeconds
      ) {
        await pause(Math.min(LAG_RECHECK_MAX_MS, Math.floor(ctx.timeoutMs / 4)), ctx.signal);
        // Same primary position as before: reaching it now proves the gap was in flight.
        if ((await bytesBehind(client, primary.lsn)) === 0) lagBytes = 0;
      }
      return replicaOutcome(endpoint, row, lagBytes, primary, ctx.config.maxLagSeconds);
    }
  },
});

function replicaOutcome(
  endpoint: string,
  row: ReplicaRow,
  lagBytes: number | null,
  primary: PrimaryPosition,
  maxLagSeconds: number,
): CheckOutcome {
  const facts = [`PostgreSQL ${shortVersion(row.version)} at ${endpoint}`];
  const problems: string[] = [];

  if (!row.has_wal_receiver) {
    problems.push(
      'not receiving WAL: no WAL receiver runs (can the replica reach the primary? check primary_conninfo and the replica log)',
    );
  } else if (row.wal_receiver_status === null) {
    problems.push(
      'cannot see the WAL receiver status: grant pg_read_all_stats to this user to check streaming',
    );
  } else if (row.wal_receiver_status !== 'streaming') {
    problems.push(`WAL receiver is "${row.wal_receiver_status}", not streaming`);
  } else {
    facts.push('streaming');
  }

  // now() - pg_last_xact_replay_timestamp() is the age of the last replayed transaction.
  // It is lag only while WAL is waiting to be replayed; on a caught-up replica of an idle
  // primary it grows forever, so it is reported as lag only when bytes are outstanding.
  let lagSeconds: number | null = null;
  let lagSecondsNote: string;
  if (lagBytes !== null) {
    if (lagBytes === 0) {
      lagSeconds = 0;
      lagSecondsNote = 'caught up: the age of the last replayed transaction is not lag';
      facts.push('0 B behind the primary (caught up)');
    } else {
      lagSeconds = row.replay_age_seconds;
      lagSecondsNote = 'seconds since the last replayed transaction, while bytes are outstanding';
      facts.push(`${formatBytes(lagBytes)} behind the primary`);
      if (lagSeconds !== null)
        facts.push(`last transaction replayed ${formatSeconds(lagSeconds)} ago`);
    }
  } else {
    const reason = primary.kind === 'unknown' ? primary.reason : 'primary position unavailable';
    facts.push(`bytes behind the primary unknown (${reason})`);
    if (row.replay_backlog_bytes !== null && row.replay_backlog_bytes > 0) {
      lagSeconds = row.replay_age_seconds;
      lagSecondsNote =
        'seconds since the last replayed transaction, while received WAL awaits replay';
      facts.push(`${formatBytes(row.replay_backlog_bytes)} received but not yet replayed`);
    } else {
      lagSecondsNote =
        'not measurable: everything received is replayed, and without the primary the age of the last transaction is not lag';
    }
  }
  if (lagSeconds !== null && lagSeconds > maxLagSeconds) {
    problems.push(
      `replication lag ${formatSeconds(lagSeconds)} is above --max-lag-seconds ${maxLagSeconds}`,
    );
  }

  const details = {
    endpoint,
    version: row.version,
    inRecovery: true,
    walReceiverStatus: row.has_wal_receiver ? row.wal_receiver_status : null,
    receiveLsn: row.receive_lsn,
    replayLsn: row.replay_lsn,
    primaryLsn: primary.kind === 'known' ? primary.lsn : null,
    lagBytes,
    lagSeconds,
    lagSecondsNote,
    maxLagSeconds,
  };
  if (problems.length > 0) {
    return { status: 'warn', message: `${problems.join('; ')} (${facts.join(', ')})`, details };
  }
  return { status: 'pass', message: facts.join(', '), details };
}

/** Bytes of WAL the replica has yet to replay to reach `lsn`; null when it has replayed nothing. */
async function bytesBehind(client: pg.Client, lsn: string): Promise<number | null> {
  const { rows } = await client.query<{ behind: number | null }>(
    'SELECT pg_wal_lsn_diff($1::pg_lsn, pg_last_wal_replay_lsn())::float8 AS behind',
    [lsn],
  );
  const behind = rows[0]?.behind ?? null;
  // Negative when the replica replayed past the position read earlier: it is caught up.
  return behind === null ? null : Math.max(0, behind);
}

/**
 * The primary's current WAL position, or why it is unknown. Never throws: the primary's
 * health is `postgres.primary`'s verdict; here it only limits what can be measured. Gets
 * half the time budget so a hung primary still leaves time to report on the replica.
 */
async function readPrimaryPosition(ctx: CheckContext): Promise<PrimaryPosition> {
  const url = ctx.config.databaseUrl;
  if (!url) {
    return {
      kind: 'unknown',
      reason: 'no primary configured: pass --database-url or set DATABASE_URL to measure it',
    };
  }
  try {
    const budgetMs = Math.max(1, Math.floor(ctx.timeoutMs / 2));
    // A side measurement: it must not overwrite what the replica check reports as its step.
    const quiet: CheckContext = { ...ctx, step: () => {} };
    const lsn = await withClient(url, 'primary', quiet, budgetMs, async (client) => {
      // pg_current_wal_lsn() raises on a standby; CASE keeps it from being called there.
      const { rows } = await client.query<{ lsn: string | null }>(
        'SELECT CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END AS lsn',
      );
      return rows[0]?.lsn ?? null;
    });
    if (lsn === null) {
      return { kind: 'unknown', reason: 'the configured primary is itself a standby' };
    }
    return { kind: 'known', lsn };
  } catch (err) {
    return { kind: 'unknown', reason: describeError(err) };
  }
}

/**
 * Opens one connection, runs `use`, and always closes it. Errors become one-line messages
 * naming the server's role and endpoint. On abort (time limit, or the check is over) the
 * socket is destroyed at once: a graceful end waits for a server that may never answer.
 */
async function withClient<T>(
  url: string,
  role: 'primary' | 'replica',
  ctx: CheckContext,
  budgetMs: number,
  use: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const endpoint = endpointOf(url, DEFAULT_PORT);
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: budgetMs,
    query_timeout: budgetMs,
    application_name: 'meskit-doctor',
  });
  // The server going away mid-session emits 'error' on the client as well as rejecting the
  // pending query; without a listener that event would crash the process.
  client.on('error', () => {});
  const detach = onAbort(ctx.signal, () => destroySocket(client));
  try {
    ctx.step(`connecting to the PostgreSQL ${role} at ${endpoint}`);
    try {
      await client.connect();
    } catch (err) {
      throw new Error(
        `cannot connect to the PostgreSQL ${role} at ${endpoint}: ${describeError(err)}`,
        { cause: err },
      );
    }
    ctx.step(`querying the PostgreSQL ${role} at ${endpoint}`);
    try {
      return await use(client);
    } catch (err) {
      throw new Error(
        `query on the PostgreSQL ${role} at ${endpoint} failed: ${describeError(err)}`,
        {
          cause: err,
        },
      );
    }
  } finally {
    detach();
    await client.end().catch(() => {});
  }
}

function destroySocket(client: pg.Client): void {
  // pg has no public "close now"; end() is graceful and waits for the server's reply.
  const internals = client as unknown as { connection?: { stream?: { destroy?: () => void } } };
  internals.connection?.stream?.destroy?.();
}

/** "15.18 (Debian 15.18-0+deb12u1)" -> "15.18". */
function shortVersion(version: string): string {
  return version.split(' ')[0] ?? version;
}

/** The encryption of a connected client's socket (pg keeps it as connection.stream). */
function tlsOf(client: pg.Client): TlsFacts {
  return tlsFactsOf(
    (client as unknown as { connection?: { stream?: unknown } }).connection?.stream,
  );
}
