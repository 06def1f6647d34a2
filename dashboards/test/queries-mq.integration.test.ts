// The messaging dashboard and rules, checked for data (see queries.integration.test.ts): a
// reference MES on @meskit/mq-reliable (MES_MESSAGING=reliable, under @meskit/otel-bootstrap) on
// a database, exchange and CRM inbox queue of its own: takes published through its outbox (one
// unroutable until a CRM queue is bound, then relayed), CRM messages acked, a duplicate skipped
// by the inbox, two dead-lettered (an unknown order, a body that is not JSON); Prometheus
// scrapes it, and every messaging query must return data for it, on Prometheus and on
// VictoriaMetrics.
// It needs otel-bootstrap, the reference MES and mq-reliable built (`npm test` builds first).
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { attachServices } from '@meskit/services';
import { deleteConsumerTopology, waitFor, withClient } from '@meskit/testkit';
import amqp from 'amqplib';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { collectQueries } from './queries.js';
import {
  evaluateUntilData,
  freePort,
  isMqQuery,
  POLL,
  queryUntil,
  sampleSum,
  services,
  spawnInstrumentedMes,
  stop,
  undocumentedFamilies,
} from './scraped.js';

describe('messaging dashboard and rule queries on a scraped MES with reliable messaging', () => {
  const job = `dashboards-mq-${process.pid}`;
  const prometheus = attachServices(services.MESKIT_SERVICES_DIR).prometheus;
  // A database (its outbox and inbox tables), an exchange and a CRM inbox queue of our own:
  // test files run in parallel against the same servers.
  const run = `${process.pid}_${randomBytes(4).toString('hex')}`;
  const database = `dashboards_mq_${run}`;
  const exchange = `dashboards.mq.events.${run}`;
  const queue = `dashboards.mq.crm-inbox.${run}`;
  const modelDir = mkdtempSync(join(tmpdir(), 'meskit-dashboards-mq-'));
  let mes: ChildProcess | undefined;
  let pool: pg.Pool | undefined;
  let broker: amqp.ChannelModel | undefined;

  afterAll(async () => {
    prometheus?.setScrapeJob({ job, targets: [] });
    if (mes) await stop(mes);
    await pool?.end();
    await broker?.close().catch(() => undefined);
    // What the MES declared, whether or not the test got as far as connecting itself: the
    // consumer's queue with its wait queues and its DLQ, and the exchange.
    if (services.AMQP_URL)
      await deleteConsumerTopology(services.AMQP_URL, queue, exchange).catch(() => undefined);
    if (services.DATABASE_URL) {
      await withClient(services.DATABASE_URL, (c) =>
        c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`),
      );
    }
    rmSync(modelDir, { recursive: true, force: true });
  });

  it('return data for every query', { timeout: 120_000 }, async () => {
    expect(prometheus, 'the test run has no Prometheus').toBeDefined();
    const { DATABASE_URL: adminUrl, AMQP_URL: amqpUrl } = services;
    expect(adminUrl && amqpUrl, 'the test run has no PostgreSQL/RabbitMQ').toBeTruthy();
    await withClient(adminUrl ?? '', (c) => c.query(`CREATE DATABASE ${database}`));
    const databaseUrl = new URL(adminUrl ?? '');
    databaseUrl.pathname = `/${database}`;

    // The MES as deployed with reliable messaging: a publisher, the outbox relay and the
    // consumer of its CRM inbox, in one process under the bootstrap.
    const metricsPort = await freePort();
    const started = spawnInstrumentedMes({
      DATABASE_URL: databaseUrl.toString(),
      AMQP_URL: amqpUrl ?? '',
      MES_MESSAGING: 'reliable',
      MES_EXCHANGE: exchange,
      MES_QUEUE: queue,
      MES_MODEL_DIR: modelDir,
      MES_LOG_LEVEL: 'silent',
      MESKIT_METRICS_PORT: String(metricsPort),
      OTEL_TRACES_SAMPLER: 'always_off',
    });
    mes = started.child;
    const mesUrl = await started.listening;
    prometheus?.setScrapeJob({ job, targets: [`127.0.0.1:${metricsPort}`] });
    const exposition = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const counted = async (name: string, labels: Record<string, string>) =>
      sampleSum(await exposition(), name, labels);
    await waitFor(
      'the MES consumes its CRM inbox',
      async () => (await counted('meskit_mq_consumer_up', { queue })) === 1,
      POLL,
    );

    // Two approved orders to take, and one priced order for the CRM to approve.
    pool = new pg.Pool({ connectionString: databaseUrl.toString(), max: 2 });
    const inserted = await pool.query<{ id: string }>(
      `INSERT INTO orders (external_id, source, status, model_ref)
       SELECT 'dash-mq-' || i, 'b2c', s, 'test/model.stl'
       FROM unnest($1::text[]) WITH ORDINALITY AS t(s, i)
       RETURNING id`,
      [['MANUFACTURING_APPROVED', 'MANUFACTURING_APPROVED', 'PRICE_CALCULATED']],
    );
    const [takenFirst, takenLater, priced] = inserted.rows.map((row) => Number(row.id)) as [
      number,
      number,
      number,
    ];
    const take = async (id: number) => {
      const response = await fetch(`${mesUrl}/api/orders/${id}/take`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ operatorId: 1 }),
      });
      // The MES's error body says what failed (it logs nothing here: MES_LOG_LEVEL is silent).
      const body = await response.text();
      expect(response.status, `take of order ${id} answered: ${body}`).toBe(200);
    };

    // A take's event while no queue is bound to its routing key (the CRM's queue missing): the
    // broker returns it, the relay keeps the row and retries it after 1 s.
    await take(takenFirst);
    await waitFor(
      'the outbox relay fails to publish the unroutable event',
      async () => (await counted('meskit_mq_outbox_relayed_total', { outcome: 'failed' })) >= 1,
      POLL,
    );
    // The CRM's queue appears: the retried row and the next take's event are confirmed.
    broker = await amqp.connect(amqpUrl ?? '');
    const channel = await broker.createConfirmChannel();
    const crm = await channel.assertQueue('', { exclusive: true });
    await channel.bindQueue(crm.queue, exchange, 'order.#');
    await take(takenLater);

    // The CRM's messages to the MES: an approval (acked), the same message again (the inbox
    // skips it), an approval of an order that does not exist (ORDER_NOT_FOUND: dead-lettered
    // at once) and a body that is not JSON (dead-lettered).
    const publish = async (body: string, messageId: string) => {
      channel.publish(exchange, 'order.manufacturing_approved', Buffer.from(body), {
        messageId,
        contentType: 'application/json',
        persistent: true,
      });
      await channel.waitForConfirms();
    };
    const approval = JSON.stringify({ orderId: priced });
    await publish(approval, `dash-mq-approval-${run}`);
    await waitFor(
      'the approval is acked',
      async () => (await counted('meskit_mq_consumed_total', { queue, outcome: 'acked' })) >= 1,
      POLL,
    );
    await publish(approval, `dash-mq-approval-${run}`);
    await publish(JSON.stringify({ orderId: 999_999 }), `dash-mq-unknown-${run}`);
    await publish('not json', `dash-mq-malformed-${run}`);
    await waitFor(
      'the duplicate is skipped, two messages are dead-lettered and both takes are relayed',
      async () => {
        const text = await exposition();
        const sum = (name: string, labels: Record<string, string>) => sampleSum(text, name, labels);
        return (
          sum('meskit_mq_consumed_total', { queue, outcome: 'duplicate' }) >= 1 &&
          sum('meskit_mq_consumed_total', { queue, outcome: 'dead_lettered' }) >= 2 &&
          sum('meskit_mq_outbox_relayed_total', { outcome: 'sent' }) >= 2
        );
      },
      POLL,
    );
    const status = await pool.query<{ status: string }>('SELECT status FROM orders WHERE id = $1', [
      priced,
    ]);
    expect(status.rows[0]?.status).toBe('MANUFACTURING_APPROVED');

    await queryUntil(
      `count_over_time(meskit_mq_consumed_total{job="${job}", outcome="dead_lettered"}[1m]) >= 2`,
    );
    const queries = collectQueries().filter(isMqQuery);
    // The dashboard's variables and panels, and the five alerts.
    expect(queries.length).toBeGreaterThan(20);
    expect(queries.filter((query) => query.kind === 'alert')).toHaveLength(5);
    // The handler keeps running: approvals of an order that does not exist, each dead-lettered,
    // and takes, whose events the relay publishes and the broker confirms (the confirm latency's
    // rate must have data in every window: VictoriaMetrics drops the NaN of an idle one).
    let unknown = 0;
    const traffic = async () => {
      unknown += 1;
      await publish(JSON.stringify({ orderId: 999_999 }), `dash-mq-unknown-${run}-${unknown}`);
      const fresh = await pool!.query<{ id: string }>(
        `INSERT INTO orders (external_id, source, status, model_ref)
         VALUES ($1, 'b2c', 'MANUFACTURING_APPROVED', 'test/model.stl') RETURNING id`,
        [`dash-mq-traffic-${run}-${unknown}`],
      );
      await take(Number(fresh.rows[0]!.id));
    };
    expect(await evaluateUntilData(queries, job, traffic)).toEqual([]);

    expect(
      undocumentedFamilies(await exposition()),
      'the reliable MES exposes families not in docs/metrics.md with that type',
    ).toEqual([]);
  });
});
