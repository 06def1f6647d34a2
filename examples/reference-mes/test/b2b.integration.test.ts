// B2B pricing over HTTP and the events the MES publishes for it and for operators' actions.
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  encodeAsciiStl,
  encodeObj,
  generateCubeMesh,
  generateCubeStl,
  generateRingStl,
  legacyPrice,
  type ReferenceMes,
} from '../src/index.js';
import {
  call,
  uniqueName,
  useMesOnBroker,
  type EventObserver,
  type TestDatabase,
} from './helpers.js';

const MAX_UPLOAD = 256 * 1024;
let db: TestDatabase;
let mes: ReferenceMes;
let events: EventObserver;
let modelDir: string;
useMesOnBroker(
  'b2b',
  // failures only: no request line per upload in the test output
  { maxUploadBytes: MAX_UPLOAD, logLevel: 'warn' },
  (fixture) => ({ db, mes, events, modelDir } = fixture),
);

function upload(
  externalId: string,
  body: Uint8Array,
  contentType = 'application/octet-stream',
  filename = 'ring.stl',
) {
  return call(
    mes.url,
    'POST',
    `/api/b2b/orders?externalId=${encodeURIComponent(externalId)}&filename=${encodeURIComponent(filename)}`,
    body,
    { 'content-type': contentType },
  );
}

describe('POST /api/b2b/orders', () => {
  it('prices the model, stores it, creates a PRICE_CALCULATED b2b order and publishes order.price_calculated', async () => {
    const model = generateRingStl({ triangles: 3_000 });
    const expected = legacyPrice(model);
    const { status, body } = await upload('PARTNER-1001', model, 'model/stl');
    expect(status).toBe(201);
    expect(body).toMatchObject({
      externalId: 'PARTNER-1001',
      source: 'b2b',
      status: 'PRICE_CALCULATED',
      polygonCount: expected.triangles,
      price: expected.price,
      currency: 'EUR',
      operatorId: null,
    });
    const stored = await readFile(join(modelDir, String(body['modelRef'])));
    expect(stored.equals(model)).toBe(true);

    const event = await events.next((e) => e.body['externalId'] === 'PARTNER-1001');
    expect(event.routingKey).toBe('order.price_calculated');
    expect(event.contentType).toBe('application/json');
    expect(event.body).toEqual({
      orderId: body['id'],
      externalId: 'PARTNER-1001',
      status: 'PRICE_CALCULATED',
      previousStatus: null,
      occurredAt: body['updatedAt'],
      price: expected.price,
    });
    expect(event.messageId).toMatch(/^[0-9a-f-]{36}$/);
    expect(event.headers['message-id']).toBe(event.messageId);
  });

  it.each([
    ['ASCII STL', encodeAsciiStl(generateCubeMesh({ sizeMm: 10 })), 'text/plain', 'cube.stl'],
    ['OBJ', encodeObj(generateCubeMesh({ sizeMm: 10 })), 'model/obj', 'cube.obj'],
  ])('accepts %s', async (_name, model, contentType, filename) => {
    const externalId = uniqueName('fmt');
    const { status, body } = await upload(externalId, model, contentType, filename);
    expect(status).toBe(201);
    expect(body).toMatchObject({ polygonCount: 12, price: legacyPrice(generateCubeStl()).price });
  });

  it('409 DUPLICATE_EXTERNAL_ID for an externalId already used, keeping the first order', async () => {
    const first = await upload('PARTNER-DUP', generateCubeStl({ sizeMm: 8 }));
    expect(first.status).toBe(201);
    const second = await upload('PARTNER-DUP', generateCubeStl({ sizeMm: 12 }));
    expect(second.status).toBe(409);
    expect(second.body.error?.code).toBe('DUPLICATE_EXTERNAL_ID');
    const rows = await db.query('SELECT price FROM orders WHERE external_id = $1', ['PARTNER-DUP']);
    expect(rows.rows).toEqual([{ price: (first.body['price'] as number).toFixed(2) }]);
  });

  const stl = generateCubeStl();
  it.each([
    ['an empty body', Buffer.alloc(0), /empty/],
    ['a truncated binary STL', stl.subarray(0, stl.length - 7), /truncated binary STL/],
    ['an STL without facets', Buffer.from('solid nothing\nendsolid nothing\n'), /no facets/],
    ['garbage text', Buffer.from('this is a photo of a ring, honest'), /not a recognised 3D model/],
  ])(
    '400 INVALID_MODEL for %s, creating no order and keeping no file',
    async (_name, body, message) => {
      const externalId = uniqueName('bad');
      const reply = await upload(externalId, body);
      expect(reply.status).toBe(400);
      expect(reply.body.error?.code).toBe('INVALID_MODEL');
      expect(reply.body.error?.message).toMatch(message);
      const rows = await db.query('SELECT 1 FROM orders WHERE external_id = $1', [externalId]);
      expect(rows.rowCount).toBe(0);
    },
  );

  it('keeps no file for rejected uploads', async () => {
    const files = await readdir(join(modelDir, 'b2b'));
    const rows = await db.query<{ model_ref: string }>(
      `SELECT model_ref FROM orders WHERE source = 'b2b'`,
    );
    expect(files.sort()).toEqual(rows.rows.map((r) => r.model_ref.replace('b2b/', '')).sort());
  });

  it('413 PAYLOAD_TOO_LARGE over maxUploadBytes', async () => {
    const reply = await upload(uniqueName('big'), Buffer.alloc(MAX_UPLOAD + 1, 1));
    expect(reply.status).toBe(413);
    expect(reply.body.error?.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('415 for a content type that is not a model', async () => {
    const reply = await upload(uniqueName('img'), generateCubeStl(), 'image/png');
    expect(reply.status).toBe(415);
    expect(reply.body.error?.code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });

  it.each([
    ['', 'INVALID_EXTERNAL_ID'],
    ['has space', 'INVALID_EXTERNAL_ID'],
    ['x'.repeat(129), 'INVALID_EXTERNAL_ID'],
  ])('400 for externalId %j', async (externalId, code) => {
    const reply = await upload(externalId, generateCubeStl());
    expect(reply.status).toBe(400);
    expect(reply.body.error?.code).toBe(code);
  });

  it('stores a hostile filename inside the model store', async () => {
    const { status, body } = await upload(
      uniqueName('path'),
      generateCubeStl(),
      'model/stl',
      '../../etc/passwd',
    );
    expect(status).toBe(201);
    expect(body['modelRef']).toMatch(/^b2b\/[0-9a-f-]{36}-passwd$/);
  });
});

describe('events of operators actions', () => {
  it('take and each step publish order.<status> with operatorId', async () => {
    const { body } = await upload(uniqueName('flow'), generateCubeStl());
    const id = body['id'] as number;
    await db.query(`UPDATE orders SET status = 'MANUFACTURING_APPROVED' WHERE id = $1`, [id]);
    expect((await call(mes.url, 'POST', `/api/orders/${id}/take`, { operatorId: 7 })).status).toBe(
      200,
    );
    for (const action of ['complete', 'package', 'ship']) {
      expect((await call(mes.url, 'POST', `/api/orders/${id}/${action}`)).status).toBe(200);
    }
    const keys: Array<[string, string, string]> = [
      ['order.manufacturing_started', 'MANUFACTURING_STARTED', 'MANUFACTURING_APPROVED'],
      ['order.manufacturing_completed', 'MANUFACTURING_COMPLETED', 'MANUFACTURING_STARTED'],
      ['order.packaging', 'PACKAGING', 'MANUFACTURING_COMPLETED'],
      ['order.shipped', 'SHIPPED', 'PACKAGING'],
    ];
    for (const [routingKey, status, previousStatus] of keys) {
      const event = await events.next(
        (e) => e.routingKey === routingKey && e.body['orderId'] === id,
      );
      expect(event.body).toMatchObject({ orderId: id, status, previousStatus, operatorId: 7 });
      expect(event.headers['message-id']).toBe(event.messageId);
    }
    const ids = events.received.map((e) => e.messageId);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('counts every publish as unconfirmed (the legacy MES never asks for confirms)', async () => {
    const stats = await call(mes.url, 'GET', '/internal/stats');
    expect(stats.body['published']).toBeGreaterThanOrEqual(5);
    expect(stats.body['publishedUnconfirmed']).toBe(stats.body['published']);
    expect(mes.stats()).toMatchObject({ publishedUnconfirmed: stats.body['published'] });
  });
});
