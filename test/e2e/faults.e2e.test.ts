// The lifecycle of a shop order again (all ten statuses), with the broker and the database replica restarted in the middle, on a
// RabbitMQ and a PostgreSQL primary + streaming replica of this file's own (the MES reads the
// replica through db-router; mq-reliable carries its events). The flow goes on: the take is
// answered while the broker is down (the outbox keeps its event), the CRM's events after the
// restart are applied, the proxy's consumer comes back (a new approval appears on the page by
// write-through), the order page reads through the replica's absence; no order is lost or
// doubled, and the history holds each status once.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from '@meskit/testkit';
import { useStack } from './support/hooks.js';
import { stateOf } from './support/stack.js';
import {
  LIFECYCLE,
  crm,
  history,
  quote,
  shopOrder,
  shownStatus,
  statusOf,
  take,
} from './support/shop.js';

const dir = mkdtempSync(join(tmpdir(), 'meskit-e2e-'));
// The servers run as their own users (postgres, rabbitmq): they must be able to enter it.
chmodSync(dir, 0o755);
// Registered first, so that it runs last (vitest runs after-hooks in reverse): after the stack
// stopped its servers.
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const stack = useStack({ ownServersDir: dir });

describe('the lifecycle through a broker restart and a replica restart', () => {
  it('goes on: nothing lost, nothing doubled, the pages right', async () => {
    const s = stack();
    const externalId = `e2e-faults-${Date.now()}`;
    // A shop order, from its first status: all ten go through the restarts.
    const order = await shopOrder(s, externalId);
    await crm(s, 'approved', order.id);
    await waitFor(
      'approved',
      async () => (await statusOf(s, order.id)) === 'MANUFACTURING_APPROVED',
    );
    const operator = await s.operator('operator-4');
    await operator.goto(`${s.proxy.url}/operators?operator=4`);
    await waitFor(
      'the page lists the order',
      async () => {
        await operator.reload();
        return (await operator.locator(`[data-order-id="${order.id}"]`).count()) === 1;
      },
      { hint: () => stateOf(s) },
    );

    // The broker goes away; the operator takes the order meanwhile.
    await s.broker!.stop();
    expect(await take(operator, order.id)).toEqual({ outcome: 'taken', message: 'Taken by you.' });
    await s.broker!.start();
    await waitFor(
      'the proxy consumes events again',
      () => s.proxy.stats().consumer === 'connected',
      {
        timeoutMs: 60_000,
      },
    );

    // The replica goes away; the order page keeps showing the truth (reads fall back to the
    // primary), and manufacturing goes on.
    const orderPage = await s.operator('order-page');
    await s.postgres!.replica!.stop();
    expect(await shownStatus(s, orderPage, order.id)).toBe('MANUFACTURING_STARTED');
    for (const step of ['complete', 'package'] as const) {
      const res = await fetch(`${s.proxy.url}/api/orders/${order.id}/${step}`, { method: 'POST' });
      expect(res.status, step).toBe(200);
    }
    expect(await shownStatus(s, orderPage, order.id)).toBe('PACKAGING');
    await s.postgres!.replica!.start();
    await s.postgres!.waitForReplay();

    const shipped = await fetch(`${s.proxy.url}/api/orders/${order.id}/ship`, { method: 'POST' });
    expect(shipped.status).toBe(200);
    expect(await shownStatus(s, orderPage, order.id)).toBe('SHIPPED');

    // The CRM's events after the restart reach the MES, and the proxy's consumer is back: a
    // newly approved order appears on the operator's page from the index.
    await crm(s, 'closed', order.id);
    await waitFor(
      'the order page shows it closed',
      async () => (await shownStatus(s, orderPage, order.id)) === 'CLOSED',
      {
        timeoutMs: 30_000,
      },
    );
    const next = await quote(s, `${externalId}-next`);
    await crm(s, 'approved', next.id);
    await waitFor(
      'the new approval is listed',
      async () => {
        await operator.reload();
        return (await operator.locator(`[data-order-id="${next.id}"]`).count()) === 1;
      },
      { timeoutMs: 30_000, hint: () => stateOf(s) },
    );
    expect(await operator.getByTestId('order-list').getAttribute('data-list-source')).toMatch(
      /^meskit;/,
    );

    // Nothing lost or doubled: one order per shop order and quote, each status once, in order.
    const orders = await s.mes.query<{ n: string }>(
      'SELECT count(*) AS n FROM orders WHERE external_id LIKE $1',
      [`${externalId}%`],
    );
    expect(Number(orders.rows[0]!.n)).toBe(2);
    expect(await history(s, order.id)).toEqual(LIFECYCLE);
  });
});
