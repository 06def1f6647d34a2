// The classifier on PostgreSQL's own grammar, including the statements other routers send to a
// replica by mistake (a sequence call, a CTE with an UPDATE, a locking read).
import { describe, expect, it } from 'vitest';
import { classifyText } from '../dist/index.js';

const route = (sql: string) => {
  const { target, reason } = classifyText(sql);
  return `${target}:${reason}`;
};

describe('classifyText', () => {
  it('sends plain reads to a replica', () => {
    expect(
      route(
        'SELECT id, status FROM orders WHERE status = $1 ORDER BY created_at DESC LIMIT $2 OFFSET $3',
      ),
    ).toBe('replica:read');
    expect(route('SELECT count(*) AS total FROM orders WHERE status = $1')).toBe('replica:read');
    expect(route('SELECT * FROM orders WHERE id = ANY($1::bigint[])')).toBe('replica:read');
    expect(route('SHOW server_version')).toBe('replica:read');
    expect(route('EXPLAIN SELECT 1')).toBe('replica:read');
    // A string that merely mentions the hint is not the hint.
    expect(route("SELECT 'meskit:primary' AS text")).toBe('replica:read');
  });

  it('sends writes, locking reads, data-modifying CTEs and anything unknown to the primary', () => {
    expect(route('INSERT INTO x (a) VALUES ($1) RETURNING id')).toBe('primary:write');
    expect(route('UPDATE orders SET status = $1 WHERE id = $2')).toBe('primary:write');
    expect(route('DELETE FROM orders WHERE id = $1')).toBe('primary:write');
    expect(route('CREATE TABLE t (a int)')).toBe('primary:write');
    expect(route('SELECT * INTO t2 FROM t')).toBe('primary:write');
    expect(route('EXPLAIN ANALYZE UPDATE t SET a = 1')).toBe('primary:write');
    expect(
      route(
        'WITH moved AS (UPDATE orders SET status = $3 WHERE id = $1 RETURNING *) SELECT * FROM moved',
      ),
    ).toBe('primary:modifying-cte');
    expect(route('WITH gone AS (DELETE FROM t RETURNING 1) SELECT count(*) FROM gone')).toBe(
      'primary:modifying-cte',
    );
    expect(route('SELECT * FROM orders WHERE id = $1 FOR UPDATE')).toBe('primary:locking');
    expect(route('SELECT * FROM orders WHERE id = $1 FOR SHARE SKIP LOCKED')).toBe(
      'primary:locking',
    );
    expect(route('BEGIN READ ONLY')).toBe('primary:transaction');
    expect(route('COMMIT')).toBe('primary:transaction');
    expect(route('SELECT 1; UPDATE t SET a = 1')).toBe('primary:multi-statement');
    expect(route('/* meskit:primary */ SELECT 1')).toBe('primary:hint');
    expect(route('SELECT 1 -- meskit:primary')).toBe('primary:hint');
    expect(route('this is not SQL')).toBe('primary:unknown');
    expect(route('')).toBe('primary:unknown');
  });

  it('names the functions a read calls, for the volatility check', () => {
    expect(classifyText("SELECT nextval('orders_id_seq')").functions).toEqual(['nextval']);
    expect(
      [...classifyText('SELECT * FROM f($1) AS r WHERE g(r.a) > now()').functions].sort(),
    ).toEqual(['f', 'g', 'now']);
  });
});
