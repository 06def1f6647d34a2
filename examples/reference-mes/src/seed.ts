// Loads a realistic order history fast: every row is generated inside PostgreSQL by
// INSERT ... SELECT over generate_series, so nothing but a few parameters crosses the wire.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { MesError } from './errors.js';
import { InvalidOptionError } from '@meskit/kernel';
import { connectError } from './internal/db.js';
import { ORDER_STATUSES, TAKEN_STATUSES, migrate, type OrderStatus } from './schema.js';

export interface SeedOptions {
  /** PostgreSQL URL; the schema is created first if missing. Required. */
  databaseUrl: string;
  /** How many orders to add. Required. */
  orders: number;
  /** The newest seeded order is created just before this instant. Default: the current time. */
  now?: Date;
  /** Called after each batch with the orders inserted so far. Default: none. */
  onProgress?: (inserted: number) => void;
  /** Orders per INSERT statement. Default: 100000. */
  batchSize?: number;
}

export interface SeedResult {
  inserted: number;
  /** Wall-clock time including ANALYZE. */
  ms: number;
}

/**
 * Share of each status among seeded orders (per mille): a shop that has run for two years,
 * where most orders are closed or shipped and a few percent wait for an operator.
 */
export const SEED_STATUS_WEIGHTS: Readonly<Record<OrderStatus, number>> = {
  INITIATED: 15,
  FILE_UPLOADED: 15,
  SUBMITTED: 20,
  PRICE_CALCULATED: 40,
  MANUFACTURING_APPROVED: 40,
  MANUFACTURING_STARTED: 25,
  MANUFACTURING_COMPLETED: 15,
  PACKAGING: 10,
  SHIPPED: 120,
  CLOSED: 700,
};

/** Share of orders from the online shop; the rest are B2B partner quotes. */
export const SEED_B2C_SHARE = 0.85;
/** Seeded orders span this many days before `now`. */
export const SEED_HISTORY_DAYS = 730;
export const SEED_POLYGONS = { min: 5_000, max: 500_000 } as const;

const MAX_ORDERS = 100_000_000;
/** Statuses before the MES has counted polygons and priced the order. */
const UNPRICED: ReadonlySet<OrderStatus> = new Set(['INITIATED', 'FILE_UPLOADED', 'SUBMITTED']);

/**
 * Adds `orders` orders: created_at spread over the past two years and increasing with id,
 * with more orders each month than the month before (CASE.md problem 3): the density grows
 * linearly, the last month getting three times the first. Row i of n sits at the fraction
 * x of the span solving (x + x^2) / 2 = (i - 0.5) / n. Statuses, sources, polygon counts and
 * prices are drawn independently per row; deterministic apart from the external ids' run tag
 * and `now`. Ends with ANALYZE.
 */
export async function seedOrders(opts: SeedOptions): Promise<SeedResult> {
  const total = opts.orders;
  if (!Number.isSafeInteger(total) || total < 0 || total > MAX_ORDERS) {
    throw new InvalidOptionError({
      component: 'seedOrders',
      option: 'orders',
      problem: `must be an integer from 0 to ${MAX_ORDERS}, got ${String(total)}`,
    });
  }
  const batchSize = opts.batchSize ?? 100_000;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
    throw new InvalidOptionError({
      component: 'seedOrders',
      option: 'batchSize',
      problem: `must be a positive integer, got ${String(batchSize)}`,
    });
  }
  const now = opts.now ?? new Date();
  if (Number.isNaN(now.getTime()))
    throw new InvalidOptionError({
      component: 'seedOrders',
      option: 'now',
      problem: 'is an invalid Date: pass a valid Date or leave it out for the current time',
    });

  const started = performance.now();
  await migrate(opts.databaseUrl);
  const client = new pg.Client({ connectionString: opts.databaseUrl });
  try {
    await client.connect();
  } catch (err) {
    throw connectError(opts.databaseUrl, err);
  }
  try {
    const operators = await client.query<{ ids: number[] | null }>(
      'SELECT array_agg(id ORDER BY id) AS ids FROM operators',
    );
    const operatorIds = operators.rows[0]?.ids ?? [];
    if (operatorIds.length === 0) throw new MesError('START_FAILED', 'seedOrders: no operators');
    // Same seed, same rows: benchmarks compare like with like.
    await client.query('SELECT setseed(0.4242)');
    const runTag = `seed-${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
    const sql = batchInsertSql();
    let inserted = 0;
    while (inserted < total) {
      const count = Math.min(batchSize, total - inserted);
      await client.query(sql, [inserted + 1, inserted + count, total, now, runTag, operatorIds]);
      inserted += count;
      opts.onProgress?.(inserted);
    }
    await client.query('ANALYZE orders');
    return { inserted, ms: performance.now() - started };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Parameters: $1 first and $2 last position in the run, $3 run size, $4 now, $5 run tag,
 * $6 operator ids. The inner subquery draws the random numbers once per row; `OFFSET 0`
 * keeps the planner from inlining it (which would draw them again for every reference).
 */
function batchInsertSql(): string {
  let cumulative = 0;
  const statusCase = ORDER_STATUSES.map((status) => {
    cumulative += SEED_STATUS_WEIGHTS[status];
    return `WHEN r.status_draw < ${cumulative / 1000} THEN '${status}'`;
  }).join(' ');
  const list = (set: ReadonlySet<OrderStatus>): string => [...set].map((s) => `'${s}'`).join(', ');
  const { min, max } = SEED_POLYGONS;
  return `
    INSERT INTO orders (external_id, source, status, model_ref, polygon_count, price, currency,
                        operator_id, created_at, updated_at)
    SELECT $5::text || '-' || x.g,
           CASE WHEN x.source_draw < ${SEED_B2C_SHARE} THEN 'b2c' ELSE 'b2b' END,
           x.status,
           CASE WHEN x.status = 'INITIATED' THEN NULL ELSE 'seed/ring-' || (x.g % 5000) || '.stl' END,
           CASE WHEN x.status IN (${list(UNPRICED)}) THEN NULL ELSE x.polygons END,
           CASE WHEN x.status IN (${list(UNPRICED)}) THEN NULL
                ELSE round((60 + x.grams * 48 + x.polygons * 0.0006)::numeric, 2) END,
           'EUR',
           CASE WHEN x.status IN (${list(TAKEN_STATUSES)})
                THEN ($6::int[])[1 + floor(x.operator_draw * cardinality($6::int[]))::int] END,
           x.created_at,
           least($4::timestamptz, x.created_at + x.update_draw * interval '20 days')
      FROM (
        SELECT r.*,
               CASE ${statusCase} ELSE 'CLOSED' END AS status,
               $4::timestamptz - interval '${SEED_HISTORY_DAYS} days'
                 * (1 - (sqrt(1 + 8 * (r.g - 0.5) / $3::float8) - 1) / 2) AS created_at
          FROM (
            SELECT g,
                   random() AS status_draw,
                   random() AS source_draw,
                   floor(${min} * power(${max / min}::float8, random()))::int AS polygons,
                   2 + random() * 12 AS grams,
                   random() AS operator_draw,
                   random() AS update_draw
              FROM generate_series($1::bigint, $2::bigint) AS g
            OFFSET 0
          ) r
      ) x
     ORDER BY x.g`;
}
