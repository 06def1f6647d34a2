/** Defaults for every setting of this package, in one place (see README "Options"). */
export const DEFAULTS = {
  /** Time limit of each doctor check, in milliseconds. */
  timeoutMs: 3_000,
  /** Replica replay lag above which `postgres.replica` warns, in seconds. */
  maxLagSeconds: 10,
} as const;
