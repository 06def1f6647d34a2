// The MES schema: orders, operators and the status history.
//
// LEGACY (deliberate): `orders` has NO index on `status` or `created_at`. The operators'
// list query (filter by status, newest first) therefore scans and sorts the whole table and
// gets slower every month as orders grow (CASE.md problem 2). meskit's cache-proxy and
// db-router are measured against exactly this; adding the index here would hide the problem.
import pg from 'pg';
import { ORDER_STATUSES, type OrderStatus } from '@meskit/kernel';
import { connectError } from './internal/db.js';

// The statuses, their order and the take come from the MES contract that cache-proxy reads too
// (a test compares the migrated CHECK constraint with it).
export { isOrderStatus, ORDER_STATUSES, TAKEN_STATUSES } from '@meskit/kernel';
export type { OrderStatus } from '@meskit/kernel';
export type OrderSource = 'b2c' | 'b2b';

/** The operators created by {@link migrate}; the shop floor has about twenty. */
export const OPERATOR_NAMES: readonly string[] = [
  'Anna Petrova',
  'Boris Ivanov',
  'Chen Wei',
  'Daria Smirnova',
  'Elena Kuznetsova',
  'Farid Aliyev',
  'Galina Orlova',
  'Hugo Martin',
  'Irina Volkova',
  'Jonas Berg',
  'Kira Sokolova',
  'Leonid Popov',
  'Maria Novikova',
  'Nikolai Fedorov',
  'Olga Morozova',
  'Pavel Lebedev',
  'Rustam Karimov',
  'Svetlana Egorova',
  'Timur Nazarov',
  'Yulia Pavlova',
];

const statusList = ORDER_STATUSES.map((s) => `'${s}'`).join(', ');

const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS operators (
  id serial PRIMARY KEY,
  name text NOT NULL UNIQUE
);

CREATE TABLE IF NOT EXISTS orders (
  id bigserial PRIMARY KEY,
  external_id text NOT NULL UNIQUE,
  source text NOT NULL CHECK (source IN ('b2c', 'b2b')),
  status text NOT NULL CHECK (status IN (${statusList})),
  model_ref text,
  polygon_count integer CHECK (polygon_count >= 0),
  price numeric(12, 2),
  currency text NOT NULL DEFAULT 'EUR',
  operator_id integer REFERENCES operators (id),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS order_status_history (
  id bigserial PRIMARY KEY,
  order_id bigint NOT NULL REFERENCES orders (id),
  from_status text,
  to_status text NOT NULL,
  operator_id integer REFERENCES operators (id),
  changed_at timestamptz NOT NULL DEFAULT now()
);
`;

/** Serialises concurrent migrations of one database (two MES processes starting at once). */
const MIGRATE_LOCK_KEY = 'meskit-reference-mes:migrate';

/**
 * Creates the schema and the operators if missing. Idempotent and safe to run concurrently.
 * Rejects with MesError `DATABASE_UNREACHABLE` when the database cannot be reached.
 */
export async function migrate(databaseUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 10_000 });
  try {
    await client.connect();
  } catch (err) {
    throw connectError(databaseUrl, err);
  }
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [MIGRATE_LOCK_KEY]);
    await client.query(SCHEMA_SQL);
    await client.query(
      'INSERT INTO operators (name) SELECT unnest($1::text[]) ON CONFLICT (name) DO NOTHING',
      [OPERATOR_NAMES],
    );
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** An order as the HTTP API returns it. */
export interface Order {
  id: number;
  externalId: string;
  source: OrderSource;
  status: OrderStatus;
  /** Path of the model inside the model store (modelDir), or null before upload. */
  modelRef: string | null;
  polygonCount: number | null;
  price: number | null;
  currency: string;
  /** The operator who took the order, once taken. */
  operatorId: number | null;
  /** ISO 8601. */
  createdAt: string;
  /** ISO 8601. */
  updatedAt: string;
}

export interface Operator {
  id: number;
  name: string;
}
