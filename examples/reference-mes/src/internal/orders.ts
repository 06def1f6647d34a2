// Every SQL statement the MES runs against `orders`, in one place.
import type pg from 'pg';
import type { Operator, Order, OrderSource, OrderStatus } from '../schema.js';

/** The pool, or a client inside a transaction (the reliable messaging writes events in it). */
export type Db = pg.Pool | pg.PoolClient;

interface OrderRow {
  id: string;
  external_id: string;
  source: OrderSource;
  status: OrderStatus;
  model_ref: string | null;
  polygon_count: number | null;
  price: string | null;
  currency: string;
  operator_id: number | null;
  created_at: Date;
  updated_at: Date;
}

const ORDER_COLUMNS =
  'id, external_id, source, status, model_ref, polygon_count, price, currency, operator_id, created_at, updated_at';

export function toOrder(row: OrderRow): Order {
  return {
    id: Number(row.id),
    externalId: row.external_id,
    source: row.source,
    status: row.status,
    modelRef: row.model_ref,
    polygonCount: row.polygon_count,
    price: row.price === null ? null : Number(row.price),
    currency: row.currency,
    operatorId: row.operator_id,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

export interface ListQuery {
  status: OrderStatus | undefined;
  page: number;
  pageSize: number;
}

/**
 * LEGACY (deliberate): a separate `count(*)` and an OFFSET page sorted by created_at, with no
 * index to help either: two full scans plus a sort per request, slower with every order.
 */
export async function listOrders(
  pool: pg.Pool,
  query: ListQuery,
): Promise<{ items: Order[]; total: number }> {
  const where = query.status === undefined ? '' : 'WHERE status = $1';
  const filter = query.status === undefined ? [] : [query.status];
  const count = await pool.query<{ total: string }>(
    `SELECT count(*) AS total FROM orders ${where}`,
    filter,
  );
  const n = filter.length;
  const page = await pool.query<OrderRow>(
    `SELECT ${ORDER_COLUMNS} FROM orders ${where}
     ORDER BY created_at DESC, id DESC
     OFFSET $${n + 1} LIMIT $${n + 2}`,
    [...filter, (query.page - 1) * query.pageSize, query.pageSize],
  );
  return { items: page.rows.map(toOrder), total: Number(count.rows[0]?.total ?? 0) };
}

/** How an order is named: by the MES's id or by the shop's/partner's external id. */
export type OrderKey = { id: number } | { externalId: string };

function keyClause(key: OrderKey): { sql: string; value: number | string } {
  return 'id' in key
    ? { sql: 'id = $1', value: key.id }
    : { sql: 'external_id = $1', value: key.externalId };
}

export async function getOrder(pool: Db, key: OrderKey): Promise<Order | undefined> {
  const { sql, value } = keyClause(key);
  const result = await pool.query<OrderRow>(`SELECT ${ORDER_COLUMNS} FROM orders WHERE ${sql}`, [
    value,
  ]);
  const row = result.rows[0];
  return row ? toOrder(row) : undefined;
}

export type TransitionResult =
  | { kind: 'moved'; order: Order; previousStatus: OrderStatus }
  | { kind: 'not_found' }
  | { kind: 'conflict'; current: Order };

export interface TransitionChanges {
  operatorId?: number;
  polygonCount?: number;
  price?: number;
  /** The model's place in the model store, set when the shop uploads it. */
  modelRef?: string;
}

/**
 * Moves an order from `from` to `to` in ONE conditional UPDATE (plus its history row in the
 * same statement). Under concurrent callers exactly one sees its row match `status = from`;
 * the others find the new status after the winner commits and get `conflict`.
 */
export async function transition(
  pool: Db,
  key: OrderKey,
  from: OrderStatus,
  to: OrderStatus,
  changes: TransitionChanges = {},
): Promise<TransitionResult> {
  const { sql, value } = keyClause(key);
  const result = await pool.query<OrderRow>(
    `WITH moved AS (
       UPDATE orders
          SET status = $3,
              operator_id = COALESCE($4::integer, operator_id),
              polygon_count = COALESCE($5::integer, polygon_count),
              price = COALESCE($6::numeric, price),
              model_ref = COALESCE($7::text, model_ref),
              updated_at = now()
        WHERE ${sql} AND status = $2::text
    RETURNING ${ORDER_COLUMNS}
     ), history AS (
       INSERT INTO order_status_history (order_id, from_status, to_status, operator_id)
       SELECT id, $2::text, $3, operator_id FROM moved
     )
     SELECT * FROM moved`,
    [
      value,
      from,
      to,
      changes.operatorId ?? null,
      changes.polygonCount ?? null,
      changes.price ?? null,
      changes.modelRef ?? null,
    ],
  );
  const row = result.rows[0];
  if (row) return { kind: 'moved', order: toOrder(row), previousStatus: from };
  const current = await getOrder(pool, key);
  return current ? { kind: 'conflict', current } : { kind: 'not_found' };
}

export interface NewOrder {
  externalId: string;
  source: OrderSource;
  status: OrderStatus;
  modelRef: string | null;
  polygonCount?: number;
  price?: number;
  currency?: string;
}

/**
 * Inserts an order with its first history row. With `ifAbsent`, an existing external id is
 * not an error: the result is undefined (the caller reads the existing order). Without it, a
 * duplicate raises PostgreSQL's unique violation (23505).
 */
export async function insertOrder(
  pool: Db,
  order: NewOrder,
  ifAbsent = false,
): Promise<Order | undefined> {
  const result = await pool.query<OrderRow>(
    `WITH created AS (
       INSERT INTO orders (external_id, source, status, model_ref, polygon_count, price, currency)
       VALUES ($1, $2, $3, $4, $5, $6, COALESCE($7, 'EUR'))
       ${ifAbsent ? 'ON CONFLICT (external_id) DO NOTHING' : ''}
       RETURNING ${ORDER_COLUMNS}
     ), history AS (
       INSERT INTO order_status_history (order_id, from_status, to_status)
       SELECT id, NULL, status FROM created
     )
     SELECT * FROM created`,
    [
      order.externalId,
      order.source,
      order.status,
      order.modelRef,
      order.polygonCount ?? null,
      order.price ?? null,
      order.currency ?? null,
    ],
  );
  const row = result.rows[0];
  return row ? toOrder(row) : undefined;
}

export async function listOperators(pool: pg.Pool): Promise<Operator[]> {
  const result = await pool.query<Operator>('SELECT id, name FROM operators ORDER BY id');
  return result.rows;
}

export async function operatorExists(pool: pg.Pool, id: number): Promise<boolean> {
  const result = await pool.query('SELECT 1 FROM operators WHERE id = $1', [id]);
  return (result.rowCount ?? 0) > 0;
}
