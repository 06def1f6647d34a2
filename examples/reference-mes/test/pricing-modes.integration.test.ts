// The pricing switch: the same models priced by the legacy function on the event loop
// (default), by the same function offloaded to @meskit/pricing-runner, and by the runner's
// own analysis and price model.
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidOptionError } from '@meskit/kernel';
import { analyzeMesh, priceMesh } from '@meskit/pricing-runner';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createReferenceMes,
  encodeBinaryStl,
  generateCubeMesh,
  generateCubeStl,
  generateRingStl,
  legacyPrice,
  RUNNER_DEFAULT_ALLOY,
  type ReferenceMes,
  type ReferenceMesOptions,
} from '../src/index.js';
import {
  call,
  createTestDatabase,
  deleteTopology,
  observeEvents,
  serviceUrls,
  uniqueName,
  type EventObserver,
  type TestDatabase,
} from './helpers.js';

let db: TestDatabase;
let modelDir: string;
const mes: Partial<Record<'legacy' | 'offload' | 'runner', ReferenceMes>> = {};
const exchange = uniqueName('test.pricing.events');
const queue = uniqueName('test.pricing.inbox');
let events: EventObserver;

function start(patch: Partial<ReferenceMesOptions>): Promise<ReferenceMes> {
  return createReferenceMes({ databaseUrl: db.url, modelDir, logLevel: 'warn', ...patch });
}

function get(mode: 'legacy' | 'offload' | 'runner'): ReferenceMes {
  const handle = mes[mode];
  if (!handle) throw new Error(`the ${mode} MES did not start`);
  return handle;
}

beforeAll(async () => {
  const { amqpUrl } = serviceUrls();
  db = await createTestDatabase();
  modelDir = await mkdtemp(join(tmpdir(), 'mes-pricing-'));
  mes.legacy = await start({});
  mes.offload = await start({ pricing: 'offload', pricingRunner: { threads: 1 } });
  // The runner MES also consumes order.submitted, to check the consumer prices through it too.
  mes.runner = await start({
    pricing: 'runner',
    pricingRunner: { threads: 1 },
    amqpUrl,
    exchange,
    queue,
  });
  events = await observeEvents(amqpUrl, exchange);
});

afterAll(async () => {
  await events?.close();
  await Promise.all(Object.values(mes).map((handle) => handle.close()));
  await deleteTopology(serviceUrls().amqpUrl, exchange, queue).catch(() => undefined);
  await db?.drop();
  if (modelDir) await rm(modelDir, { recursive: true, force: true });
});

function upload(mode: 'legacy' | 'offload' | 'runner', model: Uint8Array, externalId?: string) {
  const id = externalId ?? uniqueName(mode);
  return call(get(mode).url, 'POST', `/api/b2b/orders?externalId=${id}&filename=ring.stl`, model, {
    'content-type': 'model/stl',
  });
}

/** What pricing-runner says about the model, computed here on the test's own thread. */
function runnerPrice(model: Uint8Array): { triangles: number; total: number } {
  const analysis = analyzeMesh(model);
  const quote = priceMesh(analysis, { alloy: RUNNER_DEFAULT_ALLOY });
  return { triangles: analysis.triangles, total: quote.total };
}

describe('the same model in each pricing mode', () => {
  const model = generateRingStl({ triangles: 4_000 });

  it('legacy (the default) answers exactly the order, priced by legacyPrice', async () => {
    const reply = await upload('legacy', model);
    expect(reply.status).toBe(201);
    expect(reply.body).toMatchObject({
      price: legacyPrice(model).price,
      polygonCount: legacyPrice(model).triangles,
      status: 'PRICE_CALCULATED',
    });
    expect(reply.body).not.toHaveProperty('pricing');
  });

  it('offload answers the legacy price, then the same price from the cache', async () => {
    const legacy = await upload('legacy', model);
    const first = await upload('offload', model);
    expect(first.status).toBe(201);
    expect(first.body['price']).toBe(legacy.body['price']);
    expect(first.body['polygonCount']).toBe(legacy.body['polygonCount']);
    expect(first.body['pricing']).toEqual({
      engine: 'offload',
      cached: false,
      durationMs: expect.any(Number),
    });

    const second = await upload('offload', model);
    expect(second.status).toBe(201);
    expect(second.body['id']).not.toBe(first.body['id']);
    expect(second.body['price']).toBe(legacy.body['price']);
    expect(second.body['pricing']).toMatchObject({ engine: 'offload', cached: true });
  });

  it('offload keys the cache on the work factor: another factor is priced afresh', async () => {
    const heavier = await start({ pricing: 'offload', pricingWork: 2, migrate: false });
    try {
      const reply = await call(
        heavier.url,
        'POST',
        `/api/b2b/orders?externalId=${uniqueName('w2')}`,
        model,
      );
      expect(reply.status).toBe(201);
      expect(reply.body['price']).toBe(legacyPrice(model, { work: 2 }).price);
      expect(reply.body['pricing']).toMatchObject({ cached: false });
    } finally {
      await heavier.close();
    }
  });

  it("runner answers pricing-runner's price for the model in gold 585, and caches it", async () => {
    const expected = runnerPrice(model);
    const first = await upload('runner', model);
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({
      status: 'PRICE_CALCULATED',
      polygonCount: expected.triangles,
      price: expected.total,
      currency: 'EUR',
      pricing: { engine: 'runner', cached: false, alloy: 'gold-585' },
    });
    expect(first.body['pricing']).toHaveProperty('modelVersion');
    const second = await upload('runner', model);
    expect(second.status).toBe(201);
    expect(second.body).toMatchObject({ price: expected.total, pricing: { cached: true } });
  });
});

describe('models the engines refuse', () => {
  const stl = generateCubeStl();

  it.each([
    ['a truncated binary STL', stl.subarray(0, stl.length - 7), 'TRUNCATED'],
    ['an empty body', Buffer.alloc(0), 'EMPTY'],
    ['garbage text', Buffer.from('this is a photo of a ring, honest'), 'UNKNOWN_FORMAT'],
  ])(
    'runner: 400 INVALID_MODEL with the MeshError code for %s, creating no order',
    async (_name, body, reason) => {
      const externalId = uniqueName('bad');
      const reply = await upload('runner', body, externalId);
      expect(reply.status).toBe(400);
      expect(reply.body.error).toMatchObject({ code: 'INVALID_MODEL', reason });
      expect(reply.body.error?.message).toEqual(expect.any(String));
      const rows = await db.query('SELECT 1 FROM orders WHERE external_id = $1', [externalId]);
      expect(rows.rowCount).toBe(0);
    },
  );

  it('runner: 422 MODEL_NOT_PRICEABLE for an open mesh the legacy formula would price', async () => {
    const cube = generateCubeMesh({ sizeMm: 10 });
    // Drop the last triangle: a hole, so the volume cannot be trusted.
    const open = encodeBinaryStl({
      triangles: cube.triangles - 1,
      positions: cube.positions.subarray(0, (cube.triangles - 1) * 9),
    });
    expect(legacyPrice(open).price).toBeGreaterThan(0);
    const reply = await upload('runner', open);
    expect(reply.status).toBe(422);
    expect(reply.body.error).toMatchObject({ code: 'MODEL_NOT_PRICEABLE', reason: 'OPEN_MESH' });
  });

  it('offload: 400 INVALID_MODEL with the legacy message, as in legacy mode', async () => {
    const truncated = stl.subarray(0, stl.length - 7);
    const legacy = await upload('legacy', truncated);
    const offload = await upload('offload', truncated);
    expect(legacy.status).toBe(400);
    expect(offload.status).toBe(400);
    expect(offload.body.error?.code).toBe('INVALID_MODEL');
    expect(offload.body.error?.message).toBe(legacy.body.error?.message);
  });

  it('keeps no file for refused uploads', async () => {
    const files = await readdir(join(modelDir, 'b2b'));
    const rows = await db.query<{ model_ref: string }>(
      `SELECT model_ref FROM orders WHERE source = 'b2b'`,
    );
    expect(files.sort()).toEqual(rows.rows.map((r) => r.model_ref.replace('b2b/', '')).sort());
  });
});

describe('the order.submitted consumer', () => {
  it('prices through the runner in runner mode', async () => {
    const model = generateRingStl({ triangles: 3_000 });
    await mkdir(join(modelDir, 'shop'), { recursive: true });
    const modelRef = `shop/${uniqueName('ring')}.stl`;
    await writeFile(join(modelDir, modelRef), model);
    const externalId = uniqueName('SHOP');
    events.publish('order.submitted', {
      externalId,
      modelRef,
      occurredAt: new Date().toISOString(),
    });
    const event = await events.next(
      (e) => e.routingKey === 'order.price_calculated' && e.body['externalId'] === externalId,
    );
    expect(event.body['price']).toBe(runnerPrice(model).total);
  });
});

describe('options', () => {
  it.each([
    [{ pricing: 'fast' as 'legacy' }, 'pricing'],
    [{ pricing: 'runner' as const, pricingRunner: { alloy: 'unobtainium' } }, 'pricingRunner'],
    [{ pricing: 'runner' as const, pricingRunner: { threads: -1 } }, 'pricingRunner'],
    [{ pricing: 'offload' as const, pricingRunner: { alloy: 'gold-750' } }, 'pricingRunner'],
  ])('rejects %j with INVALID_OPTION naming the option', async (patch, name) => {
    // A bad mode throws at once; a bad runner option once the runner is built.
    const attempt = Promise.resolve().then(() => start({ migrate: false, ...patch }));
    await expect(attempt).rejects.toBeInstanceOf(InvalidOptionError);
    await expect(attempt).rejects.toMatchObject({
      code: 'INVALID_OPTION',
      component: 'createReferenceMes',
      option: name,
    });
  });
});
