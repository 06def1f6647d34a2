// The seeder: counts and a realistic distribution, plus the legacy schema's missing indexes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ORDER_STATUSES,
  SEED_B2C_SHARE,
  SEED_POLYGONS,
  SEED_STATUS_WEIGHTS,
  seedOrders,
  type SeedResult,
} from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './helpers.js';

const ORDERS = 20_000;
const NOW = new Date('2026-06-30T12:00:00Z');
const DAY_MS = 86_400_000;
let db: TestDatabase;
let result: SeedResult;
const progress: number[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  result = await seedOrders({
    databaseUrl: db.url,
    orders: ORDERS,
    now: NOW,
    batchSize: 6_000,
    onProgress: (n) => progress.push(n),
  });
});

afterAll(async () => {
  await db?.drop();
});

describe('seedOrders', () => {
  it('inserts the requested number of orders in batches, reporting progress', async () => {
    expect(result.inserted).toBe(ORDERS);
    expect(result.ms).toBeGreaterThan(0);
    expect(progress).toEqual([6_000, 12_000, 18_000, 20_000]);
    const count = await db.query<{ n: string }>('SELECT count(*) AS n FROM orders');
    expect(Number(count.rows[0]!.n)).toBe(ORDERS);
  });

  it('weights statuses like a real shop', async () => {
    const rows = await db.query<{ status: string; n: string }>(
      'SELECT status, count(*) AS n FROM orders GROUP BY status',
    );
    const share = Object.fromEntries(rows.rows.map((r) => [r.status, Number(r.n) / ORDERS]));
    for (const status of ORDER_STATUSES) {
      expect(Math.abs(share[status]! - SEED_STATUS_WEIGHTS[status] / 1000), status).toBeLessThan(
        0.01,
      );
    }
    expect(share['CLOSED']! + share['SHIPPED']!).toBeGreaterThan(0.78);
    expect(share['MANUFACTURING_APPROVED']).toBeGreaterThan(0.02);
    expect(share['MANUFACTURING_APPROVED']).toBeLessThan(0.06);
  });

  it('comes ~85% from the shop (b2c), the rest from B2B partners', async () => {
    const rows = await db.query<{ b2c: number }>(
      `SELECT avg((source = 'b2c')::int)::float8 AS b2c FROM orders`,
    );
    expect(rows.rows[0]!.b2c).toBeGreaterThan(SEED_B2C_SHARE - 0.02);
    expect(rows.rows[0]!.b2c).toBeLessThan(SEED_B2C_SHARE + 0.02);
  });

  it('spreads created_at over two years, increasing with id, busier every quarter', async () => {
    const disorder = await db.query<{ n: string }>(
      `SELECT count(*) AS n FROM (
         SELECT created_at <= lag(created_at) OVER (ORDER BY id) AS bad FROM orders) t
       WHERE bad`,
    );
    expect(Number(disorder.rows[0]!.n)).toBe(0);
    const span = await db.query<{ first: Date; last: Date }>(
      'SELECT min(created_at) AS first, max(created_at) AS last FROM orders',
    );
    const { first, last } = span.rows[0]!;
    expect(NOW.getTime() - first.getTime()).toBeGreaterThan(720 * DAY_MS);
    expect(NOW.getTime() - first.getTime()).toBeLessThanOrEqual(730 * DAY_MS);
    expect(NOW.getTime() - last.getTime()).toBeLessThan(DAY_MS);
    // Eight quarters, oldest first.
    const quarters = await db.query<{ n: string }>(
      `SELECT floor(extract(epoch FROM ($1::timestamptz - created_at)) / (730 * 86400 / 8)) AS age,
              count(*) AS n
         FROM orders GROUP BY 1 ORDER BY 1 DESC`,
      [NOW],
    );
    const counts = quarters.rows.map((r) => Number(r.n));
    expect(counts).toHaveLength(8);
    for (let i = 1; i < counts.length; i++) expect(counts[i]).toBeGreaterThan(counts[i - 1]!);
  });

  it('prices and counts polygons only once priced, and sets the operator only on taken orders', async () => {
    const rows = await db.query<{
      status: string;
      unpriced: string;
      no_operator: string;
      n: string;
    }>(
      `SELECT status,
              count(*) FILTER (WHERE price IS NULL AND polygon_count IS NULL) AS unpriced,
              count(*) FILTER (WHERE operator_id IS NULL) AS no_operator,
              count(*) AS n
         FROM orders GROUP BY status`,
    );
    const taken = ORDER_STATUSES.slice(ORDER_STATUSES.indexOf('MANUFACTURING_STARTED'));
    const unpriced = ['INITIATED', 'FILE_UPLOADED', 'SUBMITTED'];
    for (const row of rows.rows) {
      expect(Number(row.unpriced), row.status).toBe(
        unpriced.includes(row.status) ? Number(row.n) : 0,
      );
      expect(Number(row.no_operator), row.status).toBe(
        taken.includes(row.status as (typeof taken)[number]) ? 0 : Number(row.n),
      );
    }
    const ranges = await db.query<{
      min: number;
      max: number;
      min_price: string;
      operators: string;
    }>(
      `SELECT min(polygon_count) AS min, max(polygon_count) AS max, min(price) AS min_price,
              count(DISTINCT operator_id) AS operators FROM orders`,
    );
    const range = ranges.rows[0]!;
    expect(range.min).toBeGreaterThanOrEqual(SEED_POLYGONS.min);
    expect(range.max).toBeLessThanOrEqual(SEED_POLYGONS.max);
    expect(range.max).toBeGreaterThan(SEED_POLYGONS.max * 0.9);
    expect(Number(range.min_price)).toBeGreaterThan(0);
    expect(Number(range.operators)).toBe(20);
  });

  it('analyzes the table so the planner knows its size', async () => {
    const stats = await db.query<{ reltuples: number }>(
      `SELECT reltuples FROM pg_class WHERE relname = 'orders'`,
    );
    expect(stats.rows[0]!.reltuples).toBeGreaterThan(ORDERS * 0.9);
  });

  it('adds to existing orders on a second run', async () => {
    const again = await seedOrders({ databaseUrl: db.url, orders: 500, now: NOW });
    expect(again.inserted).toBe(500);
    const count = await db.query<{ n: string }>('SELECT count(*) AS n FROM orders');
    expect(Number(count.rows[0]!.n)).toBe(ORDERS + 500);
  });

  it('rejects a negative or fractional order count', async () => {
    await expect(seedOrders({ databaseUrl: db.url, orders: -1 })).rejects.toMatchObject({
      code: 'INVALID_OPTION',
      option: 'orders',
    });
    await expect(seedOrders({ databaseUrl: db.url, orders: 1.5 })).rejects.toMatchObject({
      code: 'INVALID_OPTION',
      option: 'orders',
    });
  });
});

describe('legacy schema (regression: the slow list query must stay slow)', () => {
  it('has no index on orders.status or orders.created_at', async () => {
    const indexes = await db.query<{ indexdef: string }>(
      `SELECT indexdef FROM pg_indexes WHERE tablename = 'orders'`,
    );
    const defs = indexes.rows.map((r) => r.indexdef);
    expect(defs.some((d) => /\((status|created_at)\b/.test(d))).toBe(false);
    expect(defs).toHaveLength(2); // the primary key and the external_id unique constraint
  });

  it('plans the dashboard query as a sequential scan plus sort', async () => {
    const plan = await db.query<{ 'QUERY PLAN': string }>(
      `EXPLAIN SELECT * FROM orders WHERE status = 'MANUFACTURING_APPROVED'
        ORDER BY created_at DESC, id DESC OFFSET 0 LIMIT 20`,
    );
    const text = plan.rows.map((r) => r['QUERY PLAN']).join('\n');
    expect(text).toMatch(/Seq Scan on orders/);
    expect(text).toMatch(/Sort/);
  });
});
