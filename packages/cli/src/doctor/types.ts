/** What a check found. `warn` and `skip` do not make `meskit doctor` fail; `fail` does. */
export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip';

/** The resolved settings every check sees (flags win over env vars, env vars over defaults). */
export interface DoctorConfig {
  /** PostgreSQL primary (`--database-url`, env DATABASE_URL). Undefined: not configured. */
  readonly databaseUrl: string | undefined;
  /** PostgreSQL streaming replica (`--replica-url`, env DATABASE_REPLICA_URL). */
  readonly replicaUrl: string | undefined;
  /** Redis (`--redis-url`, env REDIS_URL). */
  readonly redisUrl: string | undefined;
  /** RabbitMQ (`--amqp-url`, env AMQP_URL). */
  readonly amqpUrl: string | undefined;
  /** Base URL of the MES whose `/health` is probed (`--mes-url`, env MESKIT_MES_URL). */
  readonly mesUrl: string | undefined;
  /**
   * Base URL of the pricing sidecar whose `/readyz` is probed (`--pricing-url`, env
   * MESKIT_PRICING_URL). Undefined or absent: not configured. Optional so that configs built
   * before this setting existed stay valid.
   */
  readonly pricingUrl?: string | undefined;
  /**
   * Base URL of the cache sidecar whose first page is probed (`--cache-proxy-url`, env
   * MESKIT_CACHE_PROXY_URL). Undefined or absent: not configured. Optional like `pricingUrl`.
   */
  readonly cacheProxyUrl?: string | undefined;
  /** Time limit of each check in ms (`--timeout-ms`, env MESKIT_DOCTOR_TIMEOUT_MS). Default: 3000. */
  readonly timeoutMs: number;
  /** Replica lag that makes `postgres.replica` warn (`--max-lag-seconds`). Default: 10. */
  readonly maxLagSeconds: number;
  /**
   * The environment the config was resolved from, so checks added later can read their
   * own `MESKIT_<PART>_<NAME>` variables without a new flag here.
   */
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** What a check receives when it runs. */
export interface CheckContext {
  readonly config: DoctorConfig;
  /**
   * Aborted when the check's time limit passes or once its result is recorded. Close
   * connections and clear timers when it fires: nothing may keep the process alive.
   */
  readonly signal: AbortSignal;
  /** This check's time limit in ms; use it for client-side connect/query timeouts. */
  readonly timeoutMs: number;
  /**
   * Records what the check is doing now ("connecting to Redis at 10.0.0.5:6379"), so that
   * a timeout can say where it got stuck instead of only that it did.
   */
  step(doing: string): void;
}

/** What a check returns. `details` must be JSON-serialisable; it appears in `--json` output. */
export interface CheckOutcome {
  readonly status: CheckStatus;
  /** One line for a human: what was found and, when not `pass`, what to do. */
  readonly message: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

/**
 * One diagnostic. Other packages implement this interface (structurally: they need not
 * depend on @meskit/cli) and register it with `registerCheck()` or a `CheckRegistry`.
 */
export interface DoctorCheck {
  /** Stable id, lower case, dot-separated by area (`postgres.replica`); used by `--only`. */
  readonly id: string;
  /** Short human name (`PostgreSQL replica`). */
  readonly title: string;
  /**
   * Runs the check. Throwing is fine: the runner turns it into `fail` with a one-line
   * message. Return `skip` when the dependency is not configured.
   */
  run(ctx: CheckContext): Promise<CheckOutcome>;
}

/** A check's outcome as reported: secrets redacted, message on one line. */
export interface CheckResult {
  readonly id: string;
  readonly title: string;
  readonly status: CheckStatus;
  readonly message: string;
  /** Wall time the check took, rounded to whole milliseconds. */
  readonly durationMs: number;
  readonly details?: Readonly<Record<string, unknown>>;
}

/** The result of a doctor run, also the shape of `meskit doctor --json`. */
export interface DoctorReport {
  /** False when any check failed. */
  readonly ok: boolean;
  /** One result per check that ran, in registration order. */
  readonly checks: readonly CheckResult[];
}
