// The HTTP API without messaging: listing, reading, taking and the manufacturing steps.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidOptionError } from '@meskit/kernel';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createReferenceMes, type LogLevel, type ReferenceMes } from '../src/index.js';
import {
  call,
  createTestDatabase,
  insertOrders,
  startRelay,
  type TestDatabase,
} from './helpers.js';

let db: TestDatabase;
let mes: ReferenceMes;
let modelDir: string;

beforeAll(async () => {
  db = await createTestDatabase();
  modelDir = await mkdtemp(join(tmpdir(), 'mes-api-'));
  // Failures only: a request line per call would flood the test output.
  mes = await createReferenceMes({ databaseUrl: db.url, modelDir, logLevel: 'warn' });
});

afterAll(async () => {
  await mes?.close();
  await db?.drop();
  if (modelDir) await rm(modelDir, { recursive: true, force: true });
});

const day = (n: number): Date => new Date(Date.UTC(2025, 0, 1 + n));

describe('GET /api/orders', () => {
  let approved: number[];

  beforeAll(async () => {
    // 25 approved orders on distinct days, inserted oldest-last so id order != date order,
    // plus two sharing a timestamp (tie broken by id DESC) and some in other statuses.
    approved = await insertOrders(
      db,
      Array.from({ length: 25 }, (_, i) => ({
        status: 'MANUFACTURING_APPROVED',
        createdAt: day(40 - i),
      })),
    );
    approved.push(
      ...(await insertOrders(db, [{ status: 'MANUFACTURING_APPROVED', createdAt: day(40) }])),
    );
    await insertOrders(db, [
      { status: 'CLOSED', createdAt: day(50) },
      { status: 'SHIPPED', createdAt: day(51) },
      { status: 'PRICE_CALCULATED', createdAt: day(52) },
    ]);
  });

  it('lists one status newest first, ties broken by id, with the total', async () => {
    const { status, body } = await call(
      mes.url,
      'GET',
      '/api/orders?status=MANUFACTURING_APPROVED',
    );
    expect(status).toBe(200);
    expect(body).toMatchObject({ page: 1, pageSize: 20, total: 26 });
    const items = body.items!;
    expect(items).toHaveLength(20);
    expect(items.every((o) => o['status'] === 'MANUFACTURING_APPROVED')).toBe(true);
    // The two on day 40: the later id first.
    expect(items.slice(0, 2).map((o) => o['id'])).toEqual([approved[25], approved[0]]);
    const created = items.map((o) => Date.parse(String(o['createdAt'])));
    expect(created).toEqual([...created].sort((a, b) => b - a));
  });

  it('pages through without overlap or gaps', async () => {
    const seen: unknown[] = [];
    for (let page = 1; page <= 3; page++) {
      const { body } = await call(
        mes.url,
        'GET',
        `/api/orders?status=MANUFACTURING_APPROVED&page=${page}&pageSize=10`,
      );
      expect(body.total).toBe(26);
      seen.push(...body.items!.map((o) => o['id']));
    }
    expect(seen).toHaveLength(26);
    expect(new Set(seen).size).toBe(26);
    const beyond = await call(
      mes.url,
      'GET',
      '/api/orders?status=MANUFACTURING_APPROVED&page=4&pageSize=10',
    );
    expect(beyond.body.items).toEqual([]);
  });

  it('without a status lists every order', async () => {
    const { body } = await call(mes.url, 'GET', '/api/orders?pageSize=100');
    expect(body.total).toBe(29);
    expect(body.items![0]!['status']).toBe('PRICE_CALCULATED');
  });

  it('returns orders in the documented shape', async () => {
    const { body } = await call(mes.url, 'GET', '/api/orders?status=SHIPPED');
    expect(body.items![0]).toEqual({
      id: expect.any(Number),
      externalId: expect.any(String),
      source: 'b2c',
      status: 'SHIPPED',
      modelRef: 'test/model.stl',
      polygonCount: null,
      price: null,
      currency: 'EUR',
      operatorId: null,
      createdAt: day(51).toISOString(),
      updatedAt: day(51).toISOString(),
    });
  });

  it.each([
    ['status=NOPE', 'INVALID_STATUS'],
    ['status=closed', 'INVALID_STATUS'],
    ['page=0', 'INVALID_PAGE'],
    ['page=-1', 'INVALID_PAGE'],
    ['page=abc', 'INVALID_PAGE'],
    ['pageSize=0', 'INVALID_PAGE_SIZE'],
    ['pageSize=101', 'INVALID_PAGE_SIZE'],
    ['pageSize=2.5', 'INVALID_PAGE_SIZE'],
  ])('rejects %s with 400 %s', async (query, code) => {
    const { status, body } = await call(mes.url, 'GET', `/api/orders?${query}`);
    expect(status).toBe(400);
    expect(body.error?.code).toBe(code);
    expect(body.error?.message).toEqual(expect.any(String));
  });
});

describe('GET /api/orders/:id', () => {
  it('returns the order', async () => {
    const [id] = await insertOrders(db, [
      { status: 'PACKAGING', createdAt: day(3), externalId: 'get-one' },
    ]);
    const { status, body } = await call(mes.url, 'GET', `/api/orders/${id}`);
    expect(status).toBe(200);
    expect(body).toMatchObject({ id, externalId: 'get-one', status: 'PACKAGING' });
  });

  it('404 ORDER_NOT_FOUND for an unknown id', async () => {
    const { status, body } = await call(mes.url, 'GET', '/api/orders/999999999');
    expect(status).toBe(404);
    expect(body.error?.code).toBe('ORDER_NOT_FOUND');
  });

  it.each(['abc', '0', '-3', '1.5', '99999999999999999999'])(
    '400 INVALID_ID for %s',
    async (id) => {
      const { status, body } = await call(mes.url, 'GET', `/api/orders/${id}`);
      expect(status).toBe(400);
      expect(body.error?.code).toBe('INVALID_ID');
    },
  );
});

describe('POST /api/orders/:id/take', () => {
  it('exactly one of ten concurrent operators wins; the others get 409 ORDER_ALREADY_TAKEN', async () => {
    const [id] = await insertOrders(db, [{ status: 'MANUFACTURING_APPROVED', createdAt: day(60) }]);
    const replies = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        call(mes.url, 'POST', `/api/orders/${id}/take`, { operatorId: i + 1 }),
      ),
    );
    const winners = replies.filter((r) => r.status === 200);
    const losers = replies.filter((r) => r.status === 409);
    expect(winners).toHaveLength(1);
    expect(losers).toHaveLength(9);
    expect(losers.every((r) => r.body.error?.code === 'ORDER_ALREADY_TAKEN')).toBe(true);
    const winner = winners[0]!.body;
    expect(winner).toMatchObject({
      id,
      status: 'MANUFACTURING_STARTED',
      operatorId: expect.any(Number),
    });

    const stored = await call(mes.url, 'GET', `/api/orders/${id}`);
    expect(stored.body).toMatchObject({
      status: 'MANUFACTURING_STARTED',
      operatorId: winner['operatorId'],
    });
    const history = await db.query(
      'SELECT from_status, to_status, operator_id FROM order_status_history WHERE order_id = $1',
      [id],
    );
    expect(history.rows).toEqual([
      {
        from_status: 'MANUFACTURING_APPROVED',
        to_status: 'MANUFACTURING_STARTED',
        operator_id: winner['operatorId'],
      },
    ]);
  });

  it('409 ORDER_NOT_AVAILABLE when the order is not approved yet', async () => {
    const [id] = await insertOrders(db, [{ status: 'PRICE_CALCULATED', createdAt: day(61) }]);
    const { status, body } = await call(mes.url, 'POST', `/api/orders/${id}/take`, {
      operatorId: 1,
    });
    expect(status).toBe(409);
    expect(body.error?.code).toBe('ORDER_NOT_AVAILABLE');
  });

  it('404 for an unknown order', async () => {
    const { status, body } = await call(mes.url, 'POST', '/api/orders/888888888/take', {
      operatorId: 1,
    });
    expect(status).toBe(404);
    expect(body.error?.code).toBe('ORDER_NOT_FOUND');
  });

  it.each([
    [{}, 'INVALID_OPERATOR'],
    [{ operatorId: 'one' }, 'INVALID_OPERATOR'],
    [{ operatorId: 0 }, 'INVALID_OPERATOR'],
    [{ operatorId: 1.5 }, 'INVALID_OPERATOR'],
    [{ operatorId: 4242 }, 'UNKNOWN_OPERATOR'],
    ['{not json', 'INVALID_JSON'],
    ['[1]', 'INVALID_JSON'],
  ])('400 for body %j (%s), and the order stays available', async (body, code) => {
    const [id] = await insertOrders(db, [{ status: 'MANUFACTURING_APPROVED', createdAt: day(62) }]);
    const reply = await call(mes.url, 'POST', `/api/orders/${id}/take`, body);
    expect(reply.status).toBe(400);
    expect(reply.body.error?.code).toBe(code);
    expect((await call(mes.url, 'GET', `/api/orders/${id}`)).body['status']).toBe(
      'MANUFACTURING_APPROVED',
    );
  });
});

describe('manufacturing steps', () => {
  let id: number;

  beforeEach(async () => {
    [id] = (await insertOrders(db, [{ status: 'MANUFACTURING_APPROVED', createdAt: day(70) }])) as [
      number,
    ];
  });

  it('take -> complete -> package -> ship, with a history row per step', async () => {
    expect((await call(mes.url, 'POST', `/api/orders/${id}/take`, { operatorId: 3 })).status).toBe(
      200,
    );
    for (const [action, status] of [
      ['complete', 'MANUFACTURING_COMPLETED'],
      ['package', 'PACKAGING'],
      ['ship', 'SHIPPED'],
    ] as const) {
      const reply = await call(mes.url, 'POST', `/api/orders/${id}/${action}`);
      expect(reply.status).toBe(200);
      expect(reply.body).toMatchObject({ id, status, operatorId: 3 });
    }
    const history = await db.query<{ to_status: string }>(
      'SELECT to_status FROM order_status_history WHERE order_id = $1 ORDER BY id',
      [id],
    );
    expect(history.rows.map((r) => r.to_status)).toEqual([
      'MANUFACTURING_STARTED',
      'MANUFACTURING_COMPLETED',
      'PACKAGING',
      'SHIPPED',
    ]);
  });

  it.each(['complete', 'package', 'ship'])(
    '409 INVALID_TRANSITION for %s out of order',
    async (action) => {
      const { status, body } = await call(mes.url, 'POST', `/api/orders/${id}/${action}`);
      expect(status).toBe(409);
      expect(body.error?.code).toBe('INVALID_TRANSITION');
      expect(body.error?.message).toContain('MANUFACTURING_APPROVED');
    },
  );

  it('cannot ship twice', async () => {
    await call(mes.url, 'POST', `/api/orders/${id}/take`, { operatorId: 1 });
    for (const action of ['complete', 'package', 'ship'])
      await call(mes.url, 'POST', `/api/orders/${id}/${action}`);
    const again = await call(mes.url, 'POST', `/api/orders/${id}/ship`);
    expect(again.status).toBe(409);
    expect(again.body.error?.code).toBe('INVALID_TRANSITION');
  });
});

describe('the rest of the API', () => {
  it('GET /health checks the database', async () => {
    const { status, body } = await call(mes.url, 'GET', '/health');
    expect(status).toBe(200);
    expect(body).toEqual({ status: 'ok' });
  });

  it('GET /api/operators lists the twenty seeded operators', async () => {
    const { status, body } = await call(mes.url, 'GET', '/api/operators');
    expect(status).toBe(200);
    expect(body.items).toHaveLength(20);
    expect(body.items![0]).toEqual({ id: 1, name: expect.any(String) });
  });

  it('GET /internal/stats reports zero messaging without a broker', async () => {
    const { body } = await call(mes.url, 'GET', '/internal/stats');
    expect(body).toEqual({
      messaging: 'legacy',
      published: 0,
      publishedUnconfirmed: 0,
      publishFailures: 0,
      consumed: 0,
      consumeFailures: 0,
    });
  });

  it('404 NOT_FOUND for an unknown path, 405 with Allow for a wrong method', async () => {
    const missing = await call(mes.url, 'GET', '/api/nothing');
    expect(missing.status).toBe(404);
    expect(missing.body.error?.code).toBe('NOT_FOUND');
    const wrong = await call(mes.url, 'DELETE', '/api/orders/1');
    expect(wrong.status).toBe(405);
    expect(wrong.body.error?.code).toBe('METHOD_NOT_ALLOWED');
    expect(wrong.headers.get('allow')).toBe('GET');
  });

  it('400, not 500, for a broken percent-encoding in the path', async () => {
    const { status, body } = await call(mes.url, 'GET', '/api/orders/%E0%A4%A');
    expect(status).toBe(400);
    expect(body.error?.code).toBe('BAD_REQUEST');
  });
});

describe('createReferenceMes', () => {
  it('close() is safe to call twice', async () => {
    const other = await createReferenceMes({
      databaseUrl: db.url,
      modelDir,
      migrate: false,
      logLevel: 'warn',
    });
    await Promise.all([other.close(), other.close()]);
    await other.close();
    await expect(fetch(`${other.url}/health`)).rejects.toThrow();
  });

  it.each([
    [{ databaseUrl: '' }, 'databaseUrl'],
    [{ port: 70000 }, 'port'],
    [{ pricingWork: 0 }, 'pricingWork'],
    [{ maxUploadBytes: -1 }, 'maxUploadBytes'],
    [{ modelDir: '' }, 'modelDir'],
    [{ logLevel: 'loud' as LogLevel }, 'logLevel'],
  ])('throws INVALID_OPTION for %j at once, naming the option', (patch, name) => {
    let thrown: unknown;
    try {
      void createReferenceMes({ databaseUrl: db.url, modelDir, ...patch });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(InvalidOptionError);
    expect(thrown).toMatchObject({
      code: 'INVALID_OPTION',
      component: 'createReferenceMes',
      option: name,
    });
  });

  it('rejects with DATABASE_UNREACHABLE, password redacted, when the database is down', async () => {
    const attempt = createReferenceMes({
      databaseUrl: 'postgres://mes:s3cret@127.0.0.1:1/mes',
      modelDir,
    });
    await expect(attempt).rejects.toMatchObject({ code: 'DATABASE_UNREACHABLE' });
    await expect(attempt).rejects.toThrow(/127\.0\.0\.1:1/);
    await expect(attempt).rejects.not.toThrow(/s3cret/);
  });
});

describe('a database that goes away (fault injection)', () => {
  it('answers 503 on /health and the API, without crashing, until closed', async () => {
    const relay = await startRelay(new URL(db.url));
    const fragile = await createReferenceMes({
      databaseUrl: relay.url,
      modelDir,
      migrate: false,
      logLevel: 'warn',
    });
    try {
      expect((await call(fragile.url, 'GET', '/health')).status).toBe(200);
      relay.cut();
      await relay.close();
      const health = await call(fragile.url, 'GET', '/health');
      expect(health.status).toBe(503);
      expect(health.body).toMatchObject({
        status: 'unavailable',
        error: { code: 'DATABASE_UNAVAILABLE' },
      });
      const list = await call(fragile.url, 'GET', '/api/orders?status=MANUFACTURING_APPROVED');
      expect(list.status).toBe(503);
      expect(list.body.error?.code).toBe('DATABASE_UNAVAILABLE');
    } finally {
      await fragile.close();
    }
  });
});
