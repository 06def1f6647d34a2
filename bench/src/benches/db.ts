import pg from 'pg';
import { Registry } from 'prom-client';
import { createRouter, type RouteDecision, type Router } from '@meskit/db-router';
import { seedOrders } from '@meskit/reference-mes';
import { startServices } from '@meskit/services';
import { defineBenchmark } from '../lib/bench.js';
import { createDatabase, dropDatabase, settleAfterSeed } from '../lib/database.js';
import { round, summarize as latencies, type LatencySummary } from '../lib/stats.js';

const VARIANTS = ['raw', 'router'] as const;
type Variant = (typeof VARIANTS)[number];

// The MES's own statements on `orders` (examples/reference-mes/src/internal/orders.ts): get one
// order by its primary key, the operators' first page (no index on status or created_at: the
// legacy schema, a scan and a top-20 sort of the table), and a write on one order.
const ORDER_COLUMNS =
  'id, external_id, source, status, model_ref, polygon_count, price, currency, operator_id, created_at, updated_at';
const GET_ORDER = `SELECT ${ORDER_COLUMNS} FROM orders WHERE id = $1`;
const FIRST_PAGE = `SELECT ${ORDER_COLUMNS} FROM orders WHERE status = $1 ORDER BY created_at DESC, id DESC LIMIT 20`;
const TOUCH_ORDER = 'UPDATE orders SET updated_at = now() WHERE id = $1';
const READS: ReadonlySet<string> = new Set([GET_ORDER, FIRST_PAGE]);
/** The dashboards' statuses, for the list query. */
const LIST_STATUSES = [
  'MANUFACTURING_APPROVED',
  'PRICE_CALCULATED',
  'MANUFACTURING_STARTED',
  'SUBMITTED',
] as const;

/** The overhead mix, in percent: get one order, the first page, an update. */
const QUERY_MIX = { get: 60, list: 30, update: 10 } as const;
/** The offload mix of request contexts, in percent: list page, get one order, a take. */
const CONTEXT_MIX = { list: 50, get: 40, take: 10 } as const;

/** A deterministic generator (mulberry32): both variants run the very same queries. */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

interface Step {
  text: string;
  values: unknown[];
}

interface Queryable {
  query(text: string, values: unknown[]): Promise<unknown>;
}

/** `count` queries of the overhead mix on orders `firstId`..`lastId`. */
function querySteps(count: number, firstId: number, lastId: number, seed: number): Step[] {
  const random = generator(seed);
  const id = (): number => firstId + Math.floor(random() * (lastId - firstId + 1));
  return Array.from({ length: count }, (): Step => {
    const draw = random() * 100;
    if (draw < QUERY_MIX.get) return { text: GET_ORDER, values: [id()] };
    if (draw < QUERY_MIX.get + QUERY_MIX.list)
      return {
        text: FIRST_PAGE,
        values: [LIST_STATUSES[Math.floor(random() * LIST_STATUSES.length)]],
      };
    return { text: TOUCH_ORDER, values: [id()] };
  });
}

/** Runs `steps` with `concurrency` in flight (each worker takes the next step when done). */
async function drive(db: Queryable, steps: readonly Step[], concurrency: number): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < steps.length; i = next++)
      await db.query(steps[i]!.text, steps[i]!.values);
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

interface Measured {
  /** Wall time per query at the fixed concurrency, in µs. */
  wallUs: number;
  /** CPU time of this process (all its threads) per query, in µs, while it was timed. */
  cpuUs: number;
}

interface Summary {
  /** Wall µs per query: the median round's, the fastest and the slowest. */
  median: number;
  min: number;
  max: number;
  /** Every round's wall µs per query, in round order. */
  rounds: number[];
  /** The median of the rounds' CPU µs per query of the benchmark process (the client side). */
  cpuUsPerQuery: number;
  /** Every round's CPU µs per query, in round order. */
  cpuRounds: number[];
}

function summarize(runs: readonly Measured[]): Summary {
  const wall = runs.map((r) => r.wallUs);
  const cpu = runs.map((r) => r.cpuUs);
  return {
    median: round(median(wall), 1),
    min: round(Math.min(...wall), 1),
    max: round(Math.max(...wall), 1),
    rounds: wall.map((us) => round(us, 1)),
    cpuUsPerQuery: round(median(cpu), 1),
    cpuRounds: cpu.map((us) => round(us, 1)),
  };
}

/** The URL of database `name` on the server of `serverUrl`. */
function onServer(serverUrl: string, name: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

async function until(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

type ContextKind = keyof typeof CONTEXT_MIX;

interface Offload {
  contexts: number;
  /** Reads (SELECTs) routed, and those a replica served. */
  reads: number;
  replicaReads: number;
  writes: number;
  /** Every decision by `target:reason`. */
  decisions: Record<string, number>;
  /** router.stats() after the run. */
  queries: { primary: number; replica: number };
  readYourWrites: { replica: number; waited: number; fallback: number };
  /** The replica's lag as the router's poller saw it, sampled every 50 ms during the run. */
  lag: {
    samples: number;
    maxSeconds: number;
    medianSeconds: number;
    maxBytes: number;
    medianBytes: number;
    /** Samples with the replica out of the read rotation. */
    outOfService: number;
  };
  /** Wall time of each kind of context, in ms. */
  latency: Record<ContextKind, LatencySummary>;
  ms: number;
}

/**
 * Request-like contexts through a router with the replica: most read only (the first page, one
 * order), some take an order (UPDATE, then read the same order back: read-your-writes).
 */
async function offload(
  primaryUrl: string,
  replicaUrl: string,
  count: number,
  concurrency: number,
  firstId: number,
  lastId: number,
): Promise<Offload> {
  const decisions: Record<string, number> = {};
  let reads = 0;
  let replicaReads = 0;
  let writes = 0;
  const onDecision = (d: RouteDecision): void => {
    const key = `${d.target}:${d.reason}`;
    decisions[key] = (decisions[key] ?? 0) + 1;
    if (!READS.has(d.text)) writes += 1;
    else {
      reads += 1;
      if (d.target === 'replica') replicaReads += 1;
    }
  };
  const max = concurrency + 2;
  const router: Router = createRouter({
    primary: { connectionString: primaryUrl, max },
    replicas: [{ connectionString: replicaUrl, max }],
    registry: new Registry(),
    onDecision,
  });
  try {
    await until('the replica in service', () => router.stats().servers[1]?.inService === true);
    const random = generator(11);
    const id = (): number => firstId + Math.floor(random() * (lastId - firstId + 1));
    const plan = Array.from({ length: count }, () => {
      const draw = random() * 100;
      const kind: ContextKind =
        draw < CONTEXT_MIX.list
          ? 'list'
          : draw < CONTEXT_MIX.list + CONTEXT_MIX.get
            ? 'get'
            : 'take';
      return {
        kind,
        id: id(),
        status: LIST_STATUSES[Math.floor(random() * LIST_STATUSES.length)]!,
      };
    });
    const times: Record<ContextKind, number[]> = { list: [], get: [], take: [] };
    const lagSeconds: number[] = [];
    const lagBytes: number[] = [];
    let outOfService = 0;
    const sampler = setInterval(() => {
      const replica = router.stats().servers[1];
      if (!replica) return;
      lagSeconds.push(replica.lagSeconds);
      lagBytes.push(replica.lagBytes);
      if (!replica.inService) outOfService += 1;
    }, 50);
    const started = performance.now();
    try {
      let next = 0;
      const worker = async (): Promise<void> => {
        for (let i = next++; i < plan.length; i = next++) {
          const { kind, id: orderId, status } = plan[i]!;
          const began = performance.now();
          await router.context(async () => {
            if (kind === 'list') await router.query(FIRST_PAGE, [status]);
            else if (kind === 'get') await router.query(GET_ORDER, [orderId]);
            else {
              await router.query(TOUCH_ORDER, [orderId]);
              await router.query(GET_ORDER, [orderId]);
            }
          });
          times[kind].push(performance.now() - began);
        }
      };
      await Promise.all(Array.from({ length: concurrency }, worker));
    } finally {
      clearInterval(sampler);
    }
    const ms = performance.now() - started;
    const stats = router.stats();
    if (stats.queries.primary + stats.queries.replica !== reads + writes)
      throw new Error(
        `router.stats() counts ${stats.queries.primary + stats.queries.replica} queries, onDecision ${reads + writes}`,
      );
    return {
      contexts: count,
      reads,
      replicaReads,
      writes,
      decisions,
      queries: stats.queries,
      readYourWrites: stats.readYourWrites,
      lag: {
        samples: lagSeconds.length,
        maxSeconds: round(Math.max(0, ...lagSeconds), 4),
        medianSeconds: round(lagSeconds.length > 0 ? median(lagSeconds) : 0, 4),
        maxBytes: Math.max(0, ...lagBytes),
        medianBytes: lagBytes.length > 0 ? median(lagBytes) : 0,
        outOfService,
      },
      latency: {
        list: latencies(times.list),
        get: latencies(times.get),
        take: latencies(times.take),
      },
      ms: Math.round(ms),
    };
  } finally {
    await router.end();
  }
}

/**
 * db-router against raw pg.Pool on the MES's queries (get one order, the first page, an
 * update) on the same primary, the router with no replica, so the difference is the router's
 * own cost: a fixed number of queries at a fixed concurrency per variant, interleaved rounds,
 * wall and client CPU time per query. Then the share of reads a router with the streaming
 * replica sends to it under request-like contexts that mostly read and sometimes write then
 * read (read-your-writes).
 */
export const db = defineBenchmark({
  name: 'db',
  description:
    'db-router vs raw pg.Pool on the same primary (µs and client CPU per query), and the share of reads a replica serves',
  defaults: {
    orders: 10_000,
    queries: 4_000,
    concurrency: 8,
    rounds: 7,
    contexts: 2_000,
  },
  async run({ options: { orders, queries, concurrency, rounds, contexts }, log }) {
    const services = await startServices({ only: ['postgres'], replica: true, log });
    const serverUrl = services.urls.DATABASE_URL!;
    const replicaServerUrl = services.urls.DATABASE_REPLICA_URL!;
    const databaseName = `bench_db_${process.pid}_${Date.now().toString(36)}`;
    try {
      const databaseUrl = await createDatabase(serverUrl, databaseName);
      try {
        log(`seeding ${orders.toLocaleString('en-US')} orders`);
        await seedOrders({ databaseUrl, orders, now: new Date(Date.UTC(2026, 11, 3)) });
        await settleAfterSeed(databaseUrl);
        const bounds = new pg.Client({ connectionString: databaseUrl });
        await bounds.connect();
        const { rows } = await bounds
          .query<{ first: string; last: string }>(
            'SELECT min(id)::text AS first, max(id)::text AS last FROM orders',
          )
          .finally(() => bounds.end());
        const firstId = Number(rows[0]!.first);
        const lastId = Number(rows[0]!.last);

        // The same pool settings for both: the router's primary pool is a pg.Pool of this.
        const poolConfig = (): pg.PoolConfig => ({
          connectionString: databaseUrl,
          max: concurrency + 2,
          connectionTimeoutMillis: 1_000,
        });
        const warmSteps = querySteps(concurrency * 20, firstId, lastId, 7);
        const steps = querySteps(queries, firstId, lastId, 42);

        // Each measurement opens its pool (or router), warms it untimed (connections open, the
        // router's texts parsed once), times the steps, and ends it: the router's poller does
        // not run beside raw's rounds.
        const measure = async (variant: Variant): Promise<Measured> => {
          let handle: Queryable & { end(): Promise<void> };
          let router: Router | undefined;
          if (variant === 'raw') {
            const pool = new pg.Pool(poolConfig());
            pool.on('error', () => undefined);
            handle = pool;
          } else {
            router = createRouter({ primary: poolConfig(), registry: new Registry() });
            router.on('error', () => undefined);
            handle = router;
          }
          try {
            await drive(handle, warmSteps, concurrency);
            const before = router?.stats().queries;
            const cpu = process.cpuUsage();
            const started = performance.now();
            await drive(handle, steps, concurrency);
            const ms = performance.now() - started;
            const { user, system } = process.cpuUsage(cpu);
            if (router && before) {
              const after = router.stats().queries;
              if (after.replica !== 0 || after.primary - before.primary !== steps.length)
                throw new Error(`router: ${JSON.stringify(after)} after ${steps.length} queries`);
            }
            return { wallUs: (ms * 1000) / steps.length, cpuUs: (user + system) / steps.length };
          } finally {
            await handle.end();
          }
        };

        // A whole untimed round first: JIT, and the table's pages in PostgreSQL's cache.
        for (const variant of VARIANTS) await measure(variant);

        const runs = new Map<Variant, Measured[]>(VARIANTS.map((v) => [v, []]));
        for (let round_ = 0; round_ < rounds; round_++) {
          // Alternating order, so neither variant always runs first.
          const order = round_ % 2 === 0 ? VARIANTS : [...VARIANTS].reverse();
          for (const variant of order) {
            const run = await measure(variant);
            runs.get(variant)!.push(run);
            log(
              `round ${round_ + 1}/${rounds}, ${variant}: ${round(run.wallUs, 1)} µs per query, ${round(run.cpuUs, 1)} µs CPU per query`,
            );
          }
        }
        const results = Object.fromEntries(
          VARIANTS.map((v) => [v, summarize(runs.get(v)!)]),
        ) as Record<Variant, Summary>;

        log(
          `offload: ${contexts.toLocaleString('en-US')} contexts through a router with the replica`,
        );
        await services.postgres!.waitForReplay();
        const replica = await offload(
          databaseUrl,
          onServer(replicaServerUrl, databaseName),
          contexts,
          concurrency,
          firstId,
          lastId,
        );
        log(
          `offload: ${replica.replicaReads} of ${replica.reads} reads on the replica, lag max ${replica.lag.maxSeconds} s / ${replica.lag.maxBytes} B`,
        );

        // Paired: each round's router run against the raw run of the same round, then the
        // median over rounds; the ratio of the medians is kept beside it.
        const paired = (measure_: keyof Measured): number =>
          round(
            median(
              runs.get('router')!.map((run, i) => run[measure_] / runs.get('raw')![i]![measure_]),
            ),
            3,
          );
        const ratios = {
          overhead: paired('wallUs'),
          cpuOverhead: paired('cpuUs'),
          overheadOfMedians: round(results.router.median / results.raw.median, 3),
          cpuOverheadOfMedians: round(results.router.cpuUsPerQuery / results.raw.cpuUsPerQuery, 3),
          readOffload: round(replica.replicaReads / replica.reads, 3),
        };
        const row = (label: string, s: Summary): (string | number)[] => [
          label,
          s.median,
          s.min,
          s.max,
          s.cpuUsPerQuery,
        ];
        const ryw = replica.readYourWrites;
        return {
          table: [
            [
              `${queries.toLocaleString('en-US')} queries (${QUERY_MIX.get}% get, ${QUERY_MIX.list}% first page, ${QUERY_MIX.update}% update), ${concurrency} in flight, ${rounds} rounds`,
              'µs/query (median)',
              'min',
              'max',
              'client CPU (µs/query)',
            ],
            row('raw: pg.Pool on the primary', results.raw),
            row('router: createRouter, no replica, same primary', results.router),
            [
              `reads on the replica (${contexts.toLocaleString('en-US')} contexts: ${CONTEXT_MIX.list}% first page, ${CONTEXT_MIX.get}% get, ${CONTEXT_MIX.take}% take)`,
              `${replica.replicaReads} of ${replica.reads}`,
              '',
              '',
              '',
            ],
            [
              'reads after a write: replica at once / after a wait / primary',
              `${ryw.replica} / ${ryw.waited} / ${ryw.fallback}`,
              '',
              '',
              '',
            ],
            [
              'replica lag seen by the poller (median / max)',
              `${replica.lag.medianSeconds} / ${replica.lag.maxSeconds} s`,
              `${replica.lag.medianBytes} / ${replica.lag.maxBytes} B`,
              '',
              '',
            ],
            ['ratios', JSON.stringify(ratios), '', '', ''],
          ],
          json: {
            bench: 'db',
            orders,
            queries,
            concurrency,
            rounds,
            contexts,
            queryMix: QUERY_MIX,
            contextMix: CONTEXT_MIX,
            results,
            offload: replica,
            ratios,
          },
        };
      } finally {
        await dropDatabase(serverUrl, databaseName).catch(() => undefined);
      }
    } finally {
      await services.close();
    }
  },
});
