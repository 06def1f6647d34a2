// Issue 3's promise, on the real reference MES: started unchanged with only
// `node --import @meskit/otel-bootstrap/register` added, an operator's take over HTTP shows up
// as ONE trace (the HTTP server span, its PostgreSQL queries, the publish of
// order.manufacturing_started), a downstream consumer of that event continues the trace, and
// the MES's own pino lines of the request carry its trace id on stderr and at Loki, with no
// secret anywhere (a password in DATABASE_URL, a bearer token in the request).
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import amqp from 'amqplib';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  SPAN_KIND,
  startLokiReceiver,
  startOtlpReceiver,
  type LokiReceiver,
  type OtlpReceiver,
  type ReceivedSpan,
} from './peers/index.js';
import { deleteTopology } from '@meskit/testkit';
import { ancestors, isPgQuery, spawnApp, uniqueName, type SpawnedApp } from './helpers.js';

const MES_MAIN = join(
  dirname(createRequire(import.meta.url).resolve('@meskit/reference-mes/package.json')),
  'dist',
  'main.js',
);
const TAKE_ROUTE = '/api/orders/:id/take';
const ROUTING_KEY_KEY = 'messaging.rabbitmq.routing_key';
const OPERATOR_ID = 3;

interface Consumed extends Record<string, unknown> {
  routingKey: string;
  traceId: string | null;
  traceparent: string | null;
  body: { orderId: number; status: string };
}

describe('the reference MES under node --import @meskit/otel-bootstrap/register', () => {
  const services = inject('services');
  const suffix = randomBytes(4).toString('hex');
  // pg_hba is trust here: the password is not checked, but it is in DATABASE_URL, where a
  // careless log line or span attribute would pick it up.
  const role = `mes_otel_${suffix}`;
  const dbPassword = `S3cret-db-${randomBytes(6).toString('hex')}`;
  const database = `mes_otel_${suffix}`;
  const bearerToken = `op3rator-${randomBytes(12).toString('hex')}`;
  const exchange = uniqueName('otel-bootstrap.mes.events');
  const queue = uniqueName('otel-bootstrap.mes.inbox');
  let admin: pg.Client;
  let modelDir: string;
  let otlp: OtlpReceiver;
  let loki: LokiReceiver;
  let mes: SpawnedApp;
  let downstream: SpawnedApp;
  let orderId: number;
  let consumed: Consumed;

  beforeAll(async () => {
    if (!existsSync(MES_MAIN)) {
      throw new Error(
        'examples/reference-mes is not built: run `npx tsc -b examples/reference-mes` first',
      );
    }
    admin = new pg.Client({ connectionString: services.DATABASE_URL });
    await admin.connect();
    await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD '${dbPassword}'`);
    await admin.query(`CREATE DATABASE ${database} OWNER ${role}`);
    const databaseUrl = new URL(services.DATABASE_URL ?? '');
    databaseUrl.username = role;
    databaseUrl.password = dbPassword;
    databaseUrl.pathname = `/${database}`;
    modelDir = await mkdtemp(join(tmpdir(), 'otel-bootstrap-mes-'));
    otlp = await startOtlpReceiver();
    loki = await startLokiReceiver();

    mes = spawnApp({
      flag: '--import',
      app: MES_MAIN,
      env: {
        DATABASE_URL: databaseUrl.href,
        AMQP_URL: services.AMQP_URL ?? '',
        MES_EXCHANGE: exchange,
        MES_QUEUE: queue,
        MES_PORT: '0',
        MES_MODEL_DIR: modelDir,
        OTEL_SERVICE_NAME: 'mes',
        MESKIT_ENV: 'test',
        OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
        MESKIT_LOKI_URL: loki.url,
        MESKIT_METRICS_PORT: '0',
        // Export within 100 ms instead of seconds: the test waits for data, not for timers.
        OTEL_BSP_SCHEDULE_DELAY: '100',
        MESKIT_LOKI_BATCH_INTERVAL_MS: '100',
      },
    });
    const { url } = await mes.waitForEvent<{ url: string }>('listening');

    // The MES created its schema at start. A priced order, approved by the CRM over RabbitMQ.
    const db = new pg.Client({ connectionString: databaseUrl.href });
    await db.connect();
    try {
      const inserted = await db.query<{ id: string }>(
        `INSERT INTO orders (external_id, source, status, model_ref, price)
         VALUES ($1, 'b2c', 'PRICE_CALCULATED', 'shop/ring.stl', 212.5) RETURNING id`,
        [`SHOP-${suffix}`],
      );
      orderId = Number(inserted.rows[0]?.id);
    } finally {
      await db.end();
    }
    await publishAsCrm('order.manufacturing_approved', { orderId });
    // The MES's consumer handled it once its UPDATE came back: wait for that query's span.
    await otlp.waitForSpans((spans) => {
      const approval = spans.find(
        (s) =>
          s.kind === SPAN_KIND.CONSUMER &&
          s.serviceName === 'mes' &&
          s.attributes[ROUTING_KEY_KEY] === 'order.manufacturing_approved',
      );
      return (
        approval !== undefined &&
        spans.some((s) => s.traceId === approval.traceId && isTransitionQuery(s))
      );
    });

    downstream = spawnApp({
      flag: '--import',
      app: 'order-events-consumer.mjs',
      env: {
        AMQP_URL: services.AMQP_URL ?? '',
        FIXTURE_EXCHANGE: exchange,
        FIXTURE_BINDING: 'order.manufacturing_started',
        OTEL_SERVICE_NAME: 'downstream',
        OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
        OTEL_BSP_SCHEDULE_DELAY: '100',
        MESKIT_METRICS_PORT: 'off',
      },
    });
    await downstream.waitForEvent('ready');

    const take = await fetch(`${url}/api/orders/${orderId}/take`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bearerToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ operatorId: OPERATOR_ID }),
    });
    expect(take.status).toBe(200);
    expect(await take.json()).toMatchObject({ id: orderId, status: 'MANUFACTURING_STARTED' });
    consumed = await downstream.waitForEvent<Consumed>('consumed');
  });

  afterAll(async () => {
    downstream?.kill('SIGTERM');
    mes?.kill('SIGTERM');
    await Promise.all([downstream?.exited, mes?.exited]);
    await otlp?.close();
    await loki?.close();
    await deleteTopology(services.AMQP_URL ?? '', exchange, queue).catch(() => undefined);
    if (admin) {
      await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await admin.query(`DROP ROLE IF EXISTS ${role}`);
      await admin.end();
    }
    if (modelDir) await rm(modelDir, { recursive: true, force: true });
  });

  /** The HTTP server span of the take, the root of its trace. */
  function takeServerSpan(): Promise<ReceivedSpan> {
    return otlp.waitForSpan(
      (s) =>
        s.serviceName === 'mes' && s.kind === SPAN_KIND.SERVER && s.name === `POST ${TAKE_ROUTE}`,
    );
  }

  it('exports ONE trace holding the HTTP server span of the take, its pg queries and the publish of order.manufacturing_started', async () => {
    const server = await takeServerSpan();
    const spans = await otlp.waitForSpans((all) => {
      const trace = all.filter((s) => s.traceId === server.traceId);
      return (
        trace.some(isOperatorQuery) && trace.some(isTransitionQuery) && trace.some(isStartedPublish)
      );
    });
    const trace = spans.filter((s) => s.traceId === server.traceId);
    expect(server.parentSpanId).toBeUndefined();
    expect(server.attributes).toMatchObject({
      'http.request.method': 'POST',
      'http.route': TAKE_ROUTE,
      'http.response.status_code': 200,
    });

    // The operator check and the conditional UPDATE, both under the request.
    const queries = trace.filter(isPgQuery);
    expect(queries.filter(isOperatorQuery)).toHaveLength(1);
    expect(queries.filter(isTransitionQuery)).toHaveLength(1);
    for (const query of queries) {
      expect(query.kind).toBe(SPAN_KIND.CLIENT);
      expect(ancestors(query, trace)).toContain(server.spanId);
    }

    const publish = trace.find(isStartedPublish) as ReceivedSpan;
    expect(publish.kind).toBe(SPAN_KIND.PRODUCER);
    expect(publish.attributes['messaging.destination']).toBe(exchange);
    expect(ancestors(publish, trace)).toContain(server.spanId);
  });

  it("continues the take's trace in a downstream consumer of the event: its consume span is a CHILD of the publish span", async () => {
    const server = await takeServerSpan();
    const spans = await otlp.waitForSpans(
      (all) =>
        all.some((s) => s.serviceName === 'downstream' && s.kind === SPAN_KIND.CONSUMER) &&
        all.some((s) => s.traceId === server.traceId && isStartedPublish(s)),
    );
    const publish = spans.find(
      (s) => s.traceId === server.traceId && isStartedPublish(s),
    ) as ReceivedSpan;
    expect(publish).toBeDefined();
    const consume = spans.find(
      (s) => s.serviceName === 'downstream' && s.kind === SPAN_KIND.CONSUMER,
    ) as ReceivedSpan;
    // instrumentation-amqplib's default (useLinksForConsume: false): the context extracted
    // from the message's traceparent header becomes the consume span's parent, so the
    // consumer's work is part of the same trace; no span link is added.
    expect(consume.attributes[ROUTING_KEY_KEY]).toBe('order.manufacturing_started');
    expect(consume.traceId).toBe(server.traceId);
    expect(consume.parentSpanId).toBe(publish.spanId);
    expect(consume.links).toEqual([]);
    // What the consumer's own code saw: the header the MES sent and the trace it runs in.
    expect(consumed.traceparent).toBe(`00-${server.traceId}-${publish.spanId}-01`);
    expect(consumed.traceId).toBe(server.traceId);
    expect(consumed.body).toMatchObject({ orderId, status: 'MANUFACTURING_STARTED' });
  });

  it("writes the take's request log line with its trace id on stderr and ships it to Loki", async () => {
    const server = await takeServerSpan();
    const isTakeLine = (line: Readonly<Record<string, unknown>> | undefined): boolean =>
      line?.['event'] === 'request' && line['route'] === TAKE_ROUTE && line['status'] === 200;

    const stderrLine = stderrJson(mes).find(isTakeLine);
    expect(stderrLine).toMatchObject({
      level: 30,
      method: 'POST',
      trace_id: server.traceId,
      span_id: server.spanId,
      trace_flags: '01',
    });

    const lokiLine = await loki.waitForLine((l) => isTakeLine(l.json));
    expect(lokiLine.json).toMatchObject({
      level: 30,
      method: 'POST',
      trace_id: server.traceId,
      span_id: server.spanId,
      service: 'mes',
      msg: stderrLine?.['msg'],
      time: stderrLine?.['time'],
    });
    expect(lokiLine.labels).toEqual({ service: 'mes', env: 'test', level: 'info' });

    // Every line the MES wrote inside that trace reached Loki.
    const inTrace = stderrJson(mes).filter((l) => l['trace_id'] === server.traceId);
    await loki.waitForLines(
      (lines) =>
        lines.filter((l) => l.json?.['trace_id'] === server.traceId).length >= inTrace.length,
    );
    const shipped = loki.lines.filter((l) => l.json?.['trace_id'] === server.traceId);
    expect(shipped.map((l) => l.json?.['msg'])).toEqual(inTrace.map((l) => l['msg']));
  });

  it('lets no secret through: not the database password, not the bearer token, in no log line and no span', async () => {
    // The MES logs its database URL at start (password masked by the MES itself).
    const started = await loki.waitForLine((l) => l.json?.['event'] === 'started');
    expect(started.json?.['database']).toBe(
      `postgres://${role}:***@${new URL(services.DATABASE_URL ?? '').host}/${database}`,
    );
    // Wait for the downstream consumer's spans too: they are part of "every span".
    await otlp.waitForSpans((all) => all.some((s) => s.serviceName === 'downstream'));
    const everything = [
      mes.stdout(),
      mes.stderr(),
      downstream.stdout(),
      downstream.stderr(),
      ...loki.lines.map((l) => l.line),
      JSON.stringify(
        otlp.spans.map((s) => [s.name, s.attributes, s.resource, s.events, s.links, s.status]),
      ),
    ].join('\n');
    expect(everything).toContain(role);
    expect(everything).not.toContain(dbPassword);
    expect(everything).not.toContain(bearerToken);
  });

  it('leaves stdout to the one listening line and exits 0 on SIGTERM', async () => {
    const { url } = await mes.waitForEvent<{ url: string }>('listening');
    mes.kill('SIGTERM');
    expect(await mes.exited).toEqual({ code: 0, signal: null });
    expect(mes.stdout()).toBe(`${JSON.stringify({ event: 'listening', url })}\n`);
    // stderr is the MES's pino log and nothing else: no warning from the bootstrap.
    expect(mes.stderr().trim().split('\n').length).toBe(stderrJson(mes).length);
  });

  async function publishAsCrm(routingKey: string, body: Record<string, unknown>): Promise<void> {
    const connection = await amqp.connect(services.AMQP_URL ?? '');
    try {
      const channel = await connection.createConfirmChannel();
      channel.publish(exchange, routingKey, Buffer.from(JSON.stringify(body)), {
        contentType: 'application/json',
      });
      await channel.waitForConfirms();
    } finally {
      await connection.close();
    }
  }
});

function isOperatorQuery(span: ReceivedSpan): boolean {
  return (
    isPgQuery(span) && span.attributes['db.query.text'] === 'SELECT 1 FROM operators WHERE id = $1'
  );
}

function isTransitionQuery(span: ReceivedSpan): boolean {
  return isPgQuery(span) && String(span.attributes['db.query.text']).includes('UPDATE orders');
}

function isStartedPublish(span: ReceivedSpan): boolean {
  return (
    span.kind === SPAN_KIND.PRODUCER &&
    span.attributes[ROUTING_KEY_KEY] === 'order.manufacturing_started'
  );
}

/** The JSON lines of a process's stderr (the reference MES logs there). */
function stderrJson(app: SpawnedApp): Record<string, unknown>[] {
  return app
    .stderr()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}
