/** Defaults for every setting of this package, in one place (see README "Options"). */
export const DEFAULTS = {
  /** Time limit of each doctor check, in milliseconds. */
  timeoutMs: 3_000,
  /** Replica replay lag above which `postgres.replica` warns, in seconds. */
  maxLagSeconds: 10,
} as const;

/** Defaults of `meskit mq` and the `mq` doctor check. */
export const MESSAGING_DEFAULTS = {
  /** The queues reported when none is named: the MES's reliable inbox and cache-proxy's. */
  queues: ['mes.crm-inbox.quorum', 'meskit.cache-proxy.events'],
  /** Outbox age above which the `mq` check warns, in seconds. */
  maxOutboxAgeSeconds: 60,
} as const;
