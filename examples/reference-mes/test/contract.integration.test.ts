// The MES contract (the kernel's mes-contract) against what the reference MES really does: the
// status list and its order in the migrated schema, the take, and the event the take publishes
// with its routing key, body and headers. A schema or an event that drifts from the contract
// cache-proxy relies on fails here.
import {
  MESSAGE_HEADERS,
  ORDER_STATUSES,
  routingKeyFor,
  statusOfRoutingKey,
  TAKE,
  TAKEN_STATUSES,
} from '@meskit/kernel';
import { describe, expect, it } from 'vitest';
import type { ReferenceMes } from '../src/index.js';
import {
  call,
  insertOrders,
  useMesOnBroker,
  type EventObserver,
  type TestDatabase,
} from './helpers.js';

let db: TestDatabase;
let mes: ReferenceMes;
let events: EventObserver;
useMesOnBroker('contract', { logLevel: 'warn' }, (fixture) => ({ db, mes, events } = fixture));

describe('the reference MES keeps the MES contract', () => {
  it('its schema allows exactly the contract statuses, in lifecycle order', async () => {
    const { rows } = await db.query<{ def: string }>(
      `SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint
        WHERE conrelid = 'orders'::regclass AND contype = 'c'`,
    );
    const checks = rows.map((r) => r.def).filter((def) => /\bstatus\b/.test(def));
    expect(checks).toHaveLength(1);
    const allowed = [...checks[0]!.matchAll(/'([A-Z_]+)'/g)].map((m) => m[1]);
    expect(allowed).toEqual([...ORDER_STATUSES]);
    // The lifecycle of CASE.md, spelt out: the schema is built from the contract's list, so a
    // change to that list must show up here too, not only in both places at once.
    expect(allowed).toEqual([
      'INITIATED',
      'FILE_UPLOADED',
      'SUBMITTED',
      'PRICE_CALCULATED',
      'MANUFACTURING_APPROVED',
      'MANUFACTURING_STARTED',
      'MANUFACTURING_COMPLETED',
      'PACKAGING',
      'SHIPPED',
      'CLOSED',
    ]);
    expect(TAKE).toEqual({ from: 'MANUFACTURING_APPROVED', to: 'MANUFACTURING_STARTED' });
  });

  it('a take moves an order from TAKE.from to TAKE.to, records it, and publishes it', async () => {
    const [id] = await insertOrders(db, [{ status: TAKE.from, createdAt: new Date() }]);
    const taken = await call(mes.url, 'POST', `/api/orders/${id}/take`, { operatorId: 1 });
    expect(taken.status).toBe(200);
    expect(taken.body).toMatchObject({ id, status: TAKE.to, operatorId: 1 });
    expect(TAKEN_STATUSES.has(TAKE.to)).toBe(true);

    const history = await db.query<{ from_status: string; to_status: string }>(
      'SELECT from_status, to_status FROM order_status_history WHERE order_id = $1',
      [id],
    );
    expect(history.rows).toEqual([{ from_status: TAKE.from, to_status: TAKE.to }]);

    const event = await events.next((e) => e.body['orderId'] === id);
    expect(event.routingKey).toBe(routingKeyFor(TAKE.to));
    expect(statusOfRoutingKey(event.routingKey)).toBe(TAKE.to);
    expect(event.body).toMatchObject({
      orderId: id,
      status: TAKE.to,
      previousStatus: TAKE.from,
      operatorId: 1,
    });
    expect(Number.isFinite(Date.parse(String(event.body['occurredAt'])))).toBe(true);
    expect(typeof event.messageId).toBe('string');
    expect(event.headers[MESSAGE_HEADERS.messageId]).toBe(event.messageId);
  });

  it('a take of an order in any other status is refused and changes nothing', async () => {
    const others = ORDER_STATUSES.filter((s) => s !== TAKE.from);
    const ids = await insertOrders(
      db,
      others.map((status) => ({ status, createdAt: new Date() })),
    );
    for (const [i, orderId] of ids.entries()) {
      const answer = await call(mes.url, 'POST', `/api/orders/${orderId}/take`, { operatorId: 2 });
      expect(answer.status).toBe(409);
      const row = await db.query<{ status: string }>('SELECT status FROM orders WHERE id = $1', [
        orderId,
      ]);
      expect(row.rows[0]!.status).toBe(others[i]);
    }
  });
});
