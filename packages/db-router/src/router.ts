// createRouter: a pg.Pool in front of a primary and its streaming replicas. Writes, anything
// unknown and every transaction go to the primary; plain reads go to a replica in service,
// round robin. A context (AsyncLocalStorage) keeps the primary's WAL position after its writes
// (or a token it was handed), and its reads go to a replica only once that replica has
// replayed past it, as the shared poller last saw; otherwise they wait a bounded time, then
// read from the primary. No time window, no guessing.
import { EventEmitter } from 'node:events';
import { getRegistry } from '@meskit/kernel';
import pg from 'pg';
import { DbRouterError } from './errors.js';
import { classifier } from './internal/classify.js';
import { storage, type RywContext } from './internal/context.js';
import { lendClient } from './internal/client.js';
import { isConnectionError } from './internal/errors.js';
import { routerMetrics } from './internal/metrics.js';
import { newServer, startMonitor, type ServerState } from './internal/monitor.js';
import { formatLsn, laterLsn, parseLsn } from './lsn.js';
import { nameOf, resolveRouterOptions, type RouterOptions } from './options.js';
import type { Queryable, RouteDecision, Router, RouterStats, ServerStatus } from './types.js';

type QueryArgs = [text: string | pg.QueryConfig, values?: unknown[]];
type Callback = (error: unknown, ...results: unknown[]) => void;

export function createRouter(opts: RouterOptions): Router {
  const o = resolveRouterOptions(opts);
  const metrics = routerMetrics(opts.registry ?? getRegistry());
  const emitter = new EventEmitter();
  const pools: pg.Pool[] = [];
  function pool(config: pg.PoolConfig, role: 'primary' | 'replica'): pg.Pool {
    const p = new pg.Pool(config);
    // An idle client's error (its server died): the poller takes the server out; the
    // router's own 'error' listeners hear of the primary's, as a pg.Pool's would.
    p.on('error', (error, client) => {
      if (role === 'primary' && emitter.listenerCount('error') > 0)
        emitter.emit('error', error, client);
    });
    // A pg.Pool's life-cycle events, from every server's pool: `connect` is where an
    // application sets up each new session (search_path, statement_timeout...).
    for (const event of ['connect', 'acquire', 'release', 'remove'] as const)
      p.on(event, (...a: unknown[]) => emitter.emit(event, ...a));
    pools.push(p);
    return p;
  }
  let primary = newServer(nameOf(o.primary), pool(o.primary, 'primary'));
  primary.up = true; // until a poll says otherwise
  let replicas = o.replicas.map((c) => newServer(nameOf(c), pool(c, 'replica')));
  const classify = classifier({ volatile: loadVolatile });
  let next = 0;
  let ended = false;
  const counts = { primary: 0, replica: 0, ryw: { replica: 0, waited: 0, fallback: 0 } };

  const monitor = startMonitor(() => ({ primary, replicas }), {
    intervalMs: o.pollIntervalMs,
    maxLagSeconds: o.maxLagSeconds,
    failuresToOut: o.failuresToOut,
    queryTimeoutMs: Math.max(200, o.pollIntervalMs * 5),
    onChange(server, change) {
      if (change === 'promoted' && !primary.up) {
        // The old primary is gone and a replica was promoted: it takes the writes.
        replicas = replicas.filter((r) => r !== server);
        metrics.detach([server.name]);
        primary = server;
        server.inService = false;
      }
    },
  });
  const gauges = setInterval(() => {
    metrics.primaryUp(primary.up);
    for (const r of replicas) metrics.server(r.name, r.lagSeconds, r.lagBytes, r.inService);
  }, o.pollIntervalMs);
  gauges.unref();
  void monitor.poll().catch(() => undefined);

  async function loadVolatile(): Promise<Set<string>> {
    const { rows } = await primary.pool.query<{ name: string }>(
      "SELECT DISTINCT lower(proname) AS name FROM pg_proc WHERE provolatile = 'v'",
    );
    return new Set(rows.map((r) => r.name));
  }

  function decide(decision: RouteDecision): void {
    counts[decision.target] += 1;
    metrics.query(decision.target, decision.reason);
    opts.onDecision?.(decision);
  }

  function textOf(arg: string | pg.QueryConfig): string {
    return typeof arg === 'string' ? arg : arg.text;
  }

  async function onPrimary<R extends pg.QueryResultRow>(
    args: QueryArgs,
    reason: RouteDecision['reason'],
    writes: boolean,
  ): Promise<pg.QueryResult<R>> {
    if (ended) throw new DbRouterError('CLOSED', 'the router was ended');
    if (!primary.up)
      throw new DbRouterError(
        'PRIMARY_UNAVAILABLE',
        `the primary ${primary.name} does not answer (${primary.lastError ?? 'failing its health polls'}); writes fail until it is back or a replica is promoted`,
      );
    decide({ target: 'primary', server: primary.name, reason, text: textOf(args[0]) });
    const ctx = storage.getStore();
    const server = primary;
    try {
      return await server.pool.query<R>(args[0] as string, args[1]);
    } catch (error) {
      if (!isConnectionError(error)) throw error;
      // Gone before the poller noticed: the typed error now, and for every query until it is
      // back. A statement cut off mid-flight may or may not have committed.
      server.up = false;
      server.lastError = error instanceof Error ? error.message : String(error);
      throw new DbRouterError(
        'PRIMARY_UNAVAILABLE',
        `the primary ${server.name} failed (${server.lastError}); a statement it was running may or may not have committed`,
        { cause: error },
      );
    } finally {
      if (writes && ctx) ctx.dirty = true;
    }
  }

  /** The context's position, read from the primary first when it wrote since. */
  async function required(ctx: RywContext | undefined): Promise<bigint | undefined> {
    if (!ctx) return undefined;
    if (ctx.dirty && primary.up) {
      const { rows } = await primary.pool.query<{ lsn: string }>(
        'SELECT pg_current_wal_insert_lsn()::text AS lsn',
      );
      // Only once the position is known: a failed read of it leaves the context dirty.
      ctx.dirty = false;
      ctx.lsn = laterLsn(ctx.lsn, parseLsn(rows[0]?.lsn));
    }
    return ctx.lsn;
  }

  function candidates(lsn: bigint | undefined): ServerState[] {
    return replicas.filter(
      (r) => r.inService && (lsn === undefined || (r.lsn !== undefined && r.lsn >= lsn)),
    );
  }

  type ReadPlan =
    | { servers: ServerState[]; reason: RouteDecision['reason'] }
    | { servers: undefined; reason: RouteDecision['reason'] };

  /**
   * Where a read may go: the replicas in service that have replayed the context's position
   * (after the bounded wait), or, when none may, the primary and why.
   */
  async function planRead(reason: RouteDecision['reason']): Promise<ReadPlan> {
    if (ended) throw new DbRouterError('CLOSED', 'the router was ended');
    const lsn = await required(storage.getStore());
    let serving = candidates(lsn);
    if (
      serving.length === 0 &&
      lsn !== undefined &&
      replicas.some((r) => r.inService) &&
      o.waitMs > 0
    ) {
      const deadline = Date.now() + o.waitMs;
      while (serving.length === 0 && Date.now() < deadline) {
        await monitor.nextRound(deadline - Date.now());
        serving = candidates(lsn);
      }
      if (serving.length > 0) {
        counts.ryw.waited += 1;
        metrics.ryw('waited');
      }
    } else if (lsn !== undefined && serving.length > 0) {
      counts.ryw.replica += 1;
      metrics.ryw('replica');
    }
    if (serving.length === 0) {
      if (lsn !== undefined && replicas.some((r) => r.inService)) {
        if (o.fallback === 'error') {
          metrics.ryw('error');
          throw new DbRouterError(
            'STALE_REPLICAS',
            `no replica had replayed ${formatLsn(lsn)} within ${o.waitMs} ms`,
          );
        }
        counts.ryw.fallback += 1;
        metrics.ryw('fallback');
        return { servers: undefined, reason: 'ryw-fallback' };
      }
      if (!primary.up && replicas.some((r) => r.up)) serving = replicas.filter((r) => r.up);
      else return { servers: undefined, reason: replicas.length === 0 ? reason : 'no-replica' };
    }
    return { servers: serving, reason: primary.up ? reason : 'primary-down' };
  }

  /**
   * Round robin over the replicas that may serve: one that fails to answer goes out at once
   * and the next is tried; undefined when every one failed (the caller goes to the primary).
   */
  async function onReplicas<T>(
    servers: ServerState[],
    reason: RouteDecision['reason'],
    use: (server: ServerState, reason: RouteDecision['reason']) => Promise<T>,
  ): Promise<{ value: T } | undefined> {
    let why = reason;
    for (let tried = 0; tried < servers.length; tried++) {
      const replica = servers[(next++ + tried) % servers.length]!;
      try {
        return { value: await use(replica, why) };
      } catch (error) {
        if (!isConnectionError(error)) throw error;
        replica.inService = false;
        replica.up = false;
        replica.lastError = error instanceof Error ? error.message : String(error);
        why = 'retry';
      }
    }
    return undefined;
  }

  async function onReplica<R extends pg.QueryResultRow>(
    args: QueryArgs,
    reason: RouteDecision['reason'],
  ): Promise<pg.QueryResult<R>> {
    const plan = await planRead(reason);
    if (!plan.servers) return onPrimary<R>(args, plan.reason, false);
    const text = textOf(args[0]);
    const served = await onReplicas(plan.servers, plan.reason, (replica, why) => {
      decide({ target: 'replica', server: replica.name, reason: why, text });
      return replica.pool.query<R>(args[0] as string, args[1]);
    });
    return served ? served.value : onPrimary<R>(args, 'retry', false);
  }

  function route<R extends pg.QueryResultRow>(args: QueryArgs): Promise<pg.QueryResult<R>> {
    const route = classify(textOf(args[0]));
    return route.target === 'replica' && replicas.length > 0
      ? onReplica<R>(args, route.reason)
      : onPrimary<R>(args, route.reason, route.writes);
  }

  /** pg's forms: `(text | config, values?)` for a promise, or with a callback last. */
  function query(...a: unknown[]): unknown {
    const callback = typeof a[a.length - 1] === 'function' ? (a.pop() as Callback) : undefined;
    const done = route(a as QueryArgs);
    if (!callback) return done;
    done.then(
      (result) => callback(undefined, result),
      (error: unknown) => callback(error),
    );
    return undefined;
  }

  function requirePrimary(): void {
    if (ended) throw new DbRouterError('CLOSED', 'the router was ended');
    if (!primary.up)
      throw new DbRouterError('PRIMARY_UNAVAILABLE', `the primary ${primary.name} does not answer`);
  }

  /** A client of the primary: every statement on it goes there; one that writes moves the context. */
  async function connectPrimary(): Promise<pg.PoolClient> {
    requirePrimary();
    const server = primary;
    const client = await server.pool.connect();
    const ctx = storage.getStore();
    return lendClient(client, {
      onStatement(text) {
        const route = classify(text);
        decide({
          target: 'primary',
          server: server.name,
          reason: route.target === 'replica' ? 'transaction' : route.reason,
          text,
        });
        if (ctx && route.writes) ctx.dirty = true;
      },
    });
  }

  /**
   * A read-only client: from a replica that has replayed the context's position, as a read
   * would be, else from the primary with `default_transaction_read_only` on for as long as it
   * is lent (reset on release), so it refuses writes there as a hot standby does.
   */
  async function connectReadOnly(): Promise<pg.PoolClient> {
    const plan = await planRead('read-only');
    if (plan.servers) {
      const served = await onReplicas(plan.servers, plan.reason, async (replica) => {
        const client = await replica.pool.connect();
        return lendClient(client, {
          onStatement(text) {
            decide({ target: 'replica', server: replica.name, reason: 'read-only', text });
          },
        });
      });
      if (served) return served.value;
    }
    requirePrimary();
    const server = primary;
    const client = await server.pool.connect();
    try {
      await client.query('SET default_transaction_read_only = on');
    } catch (error) {
      client.release(error as Error);
      throw error;
    }
    const why = plan.servers ? 'retry' : plan.reason;
    return lendClient(client, {
      onStatement(text) {
        decide({ target: 'primary', server: server.name, reason: why, text });
      },
      cleanUp: 'RESET default_transaction_read_only',
    });
  }

  /** `connect()`, `connect({ readOnly })`, or pg's callback form `connect((err, client, done) => ...)`. */
  function connect(...a: unknown[]): unknown {
    const callback = typeof a[a.length - 1] === 'function' ? (a.pop() as Callback) : undefined;
    const copts = a[0] as { readOnly?: boolean } | undefined;
    const lent = copts?.readOnly === true ? connectReadOnly() : connectPrimary();
    if (!callback) return lent;
    lent.then(
      (client) => callback(undefined, client, (error?: Error | boolean) => client.release(error)),
      (error: unknown) => callback(error),
    );
    return undefined;
  }

  const router = Object.assign(emitter, {
    query,
    connect,
    primary(): Queryable {
      return {
        query: <R extends pg.QueryResultRow>(text: string | pg.QueryConfig, values?: unknown[]) =>
          onPrimary<R>([text, values], 'forced', true),
      };
    },
    context<T>(fn: () => T, copts: { token?: string | undefined } = {}): T {
      let lsn: bigint | undefined;
      if (copts.token !== undefined && copts.token !== '') {
        lsn = parseLsn(copts.token);
        if (lsn === undefined)
          throw new DbRouterError(
            'INVALID_TOKEN',
            `"${String(copts.token).slice(0, 40)}" is not a pg_lsn token (like 16/B374D848)`,
          );
      }
      const parent = storage.getStore();
      return storage.run({ lsn: laterLsn(parent?.lsn, lsn), dirty: parent?.dirty ?? false }, fn);
    },
    async token(): Promise<string | undefined> {
      const lsn = await required(storage.getStore());
      return lsn === undefined ? undefined : formatLsn(lsn);
    },
    stats(): RouterStats {
      const status = (s: ServerState, role: 'primary' | 'replica'): ServerStatus => ({
        name: s.name,
        role,
        up: s.up,
        inService: role === 'primary' ? s.up : s.inService,
        lsn: s.lsn === undefined ? undefined : formatLsn(s.lsn),
        lagBytes: s.lagBytes,
        lagSeconds: s.lagSeconds,
        lastError: s.lastError,
      });
      return {
        servers: [status(primary, 'primary'), ...replicas.map((r) => status(r, 'replica'))],
        queries: { primary: counts.primary, replica: counts.replica },
        readYourWrites: { ...counts.ryw },
      };
    },
    get totalCount() {
      return pools.reduce((n, p) => n + p.totalCount, 0);
    },
    get idleCount() {
      return pools.reduce((n, p) => n + p.idleCount, 0);
    },
    get waitingCount() {
      return pools.reduce((n, p) => n + p.waitingCount, 0);
    },
    end: (() => {
      let ending: Promise<void> | undefined;
      return () => {
        ending ??= (async () => {
          ended = true;
          monitor.stop();
          clearInterval(gauges);
          metrics.detach(replicas.map((r) => r.name));
          await Promise.all(pools.map((p) => p.end().catch(() => undefined)));
        })();
        return ending;
      };
    })(),
  });
  return router as unknown as Router;
}
