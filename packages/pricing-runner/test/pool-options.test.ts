// The pool with a configured price model, analysis options and offload mode. Runs from the
// built package (dist), as users run it: `npm test` builds first.
import { afterEach, describe, expect, it } from 'vitest';
import {
  analyzeMesh,
  createPricingPool,
  DEFAULT_PRICE_MODEL,
  MeshError,
  priceMesh,
  PriceModelError,
  PricingPoolError,
  validatePriceModel,
  type PriceModel,
} from '../dist/index.js';
import { expectInvalidOption } from './invalid-option.js';
import { binaryStl, uvSphere } from './meshes.js';

const sphere = binaryStl(uvSphere(5, 16, 24));
const FIXTURE = new URL('./fixtures/offload.mjs', import.meta.url);

const closers: { close(): Promise<void> }[] = [];
function track<T extends { close(): Promise<void> }>(handle: T): T {
  closers.push(handle);
  return handle;
}
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c.close()));
});

function shopModel(version: string): PriceModel {
  return validatePriceModel({
    ...DEFAULT_PRICE_MODEL,
    version,
    currency: 'CHF',
    defaultAlloy: 'bronze',
    alloys: { bronze: { density: 8.8, pricePerGram: 0.05, lossFactor: 0.1 } },
    minimumPrice: 0,
  });
}

describe('createPricingPool with a price model and analysis options', () => {
  it('prices with the configured model, not DEFAULT_PRICE_MODEL', async () => {
    const model = shopModel('shop-7');
    const pool = track(createPricingPool({ threads: 1, priceModel: model }));
    const { analysis, price } = await pool.submit(Buffer.from(sphere));
    expect(price).toEqual(priceMesh(analysis, { model }));
    expect(price).toMatchObject({ currency: 'CHF', alloy: 'bronze', modelVersion: 'shop-7' });
  });

  it('refuses an alloy the model does not have before running a job', async () => {
    const pool = track(createPricingPool({ threads: 1, priceModel: shopModel('shop-7') }));
    const error = await pool.submit(Buffer.from(sphere), { alloy: 'gold-750' }).catch((e) => e);
    expect(error).toBeInstanceOf(PriceModelError);
    expect(error).toMatchObject({ field: 'alloy', message: expect.stringMatching(/bronze/) });
    expect(pool.stats()).toMatchObject({ completed: 0, failed: 0 });
  });

  it('analyses with the configured options (topology off: geometry only, not priced)', async () => {
    const pool = track(createPricingPool({ threads: 1, analyze: { topology: false } }));
    const result = await pool.submit(Buffer.from(sphere));
    expect(result.analysis).toEqual(analyzeMesh(sphere, { topology: false }));
    expect(result.analysis.watertight).toBeNull();
    expect(result.price).toBeNull();
  });

  it('refuses input over analyze.maxBytes without moving the bytes', async () => {
    const pool = track(createPricingPool({ threads: 1, analyze: { maxBytes: 1000 } }));
    const bytes = new Uint8Array(sphere);
    const error = await pool.submit(bytes).catch((e) => e);
    expect(error).toBeInstanceOf(MeshError);
    expect(error).toMatchObject({
      code: 'TOO_LARGE',
      message: expect.stringMatching(/maxBytes \(1000\)/),
    });
    expect(bytes.byteLength).toBe(sphere.length); // not transferred
  });

  it('refuses bad analysis options and price models at construction, naming them', () => {
    expectInvalidOption(
      () => createPricingPool({ analyze: { maxBytes: -1 } }),
      'createPricingPool',
      'analyze.maxBytes',
      /must be a number above 0, got -1/,
    );
    expectInvalidOption(
      () => createPricingPool({ analyze: { topology: 'yes' as never } }),
      'createPricingPool',
      'analyze.topology',
      /must be a boolean/,
    );
    expectInvalidOption(
      () => createPricingPool({ analyze: 'fast' as never }),
      'createPricingPool',
      'analyze',
    );
    // A bad model is an option like any other; the PriceModelError naming its field is the cause.
    const bad = { ...DEFAULT_PRICE_MODEL, defaultAlloy: 'tin' };
    const error = expectInvalidOption(
      () => createPricingPool({ priceModel: bad }),
      'createPricingPool',
      'priceModel.defaultAlloy',
      /"tin" is not one of the alloys/,
    );
    expect(error.cause).toBeInstanceOf(PriceModelError);
    expect(error.cause).toMatchObject({ code: 'BAD_PRICE_MODEL', field: 'defaultAlloy' });
  });
});

describe('createPricingPool in offload mode', () => {
  it('runs the exported function on the bytes with its options and the alloy', async () => {
    const pool = track(
      createPricingPool<{ length: number; first: number; options: unknown }>({
        threads: 1,
        offload: { module: FIXTURE, export: 'measureLater', options: { work: 2 } },
      }),
    );
    expect(await pool.submit(Buffer.from(sphere), { alloy: 'gold-585' })).toEqual({
      length: sphere.length,
      first: sphere[0],
      options: { work: 2, alloy: 'gold-585' },
      isUint8Array: true,
    });
    expect(await pool.submit(Buffer.from(sphere))).toMatchObject({ options: { work: 2 } });
  });

  it('turns what the function throws into OFFLOAD_FAILED, keeping its message, name and code', async () => {
    const pool = track(
      createPricingPool({ threads: 1, offload: { module: FIXTURE, export: 'refuse' } }),
    );
    const error = (await pool
      .submit(Buffer.from(sphere))
      .catch((e: unknown) => e)) as PricingPoolError;
    expect(error).toBeInstanceOf(PricingPoolError);
    expect(error.code).toBe('OFFLOAD_FAILED');
    expect(error.message).toMatch(/the legacy pricer cannot read this model/);
    expect(error.cause).toMatchObject({ name: 'MesError', code: 'INVALID_MODEL' });
    // The worker survives a throwing function: the next job runs on it.
    expect(await poolCode(pool.submit(Buffer.from(sphere)))).toBe('OFFLOAD_FAILED');
    expect(pool.stats()).toMatchObject({ threads: 1, failed: 2 });
  });

  it('times out a function that never returns and replaces its worker', async () => {
    const pool = track(
      createPricingPool({
        threads: 1,
        timeoutMs: 200,
        offload: { module: FIXTURE, export: 'hang' },
      }),
    );
    expect(await poolCode(pool.submit(Buffer.from(sphere)))).toBe('TIMEOUT');
    expect(await poolCode(pool.submit(Buffer.from(sphere)))).toBe('TIMEOUT');
  });

  it('says what is wrong with a missing export or a result JSON cannot hold', async () => {
    const missing = track(
      createPricingPool({ threads: 1, offload: { module: FIXTURE, export: 'nope' } }),
    );
    const notFn = track(
      createPricingPool({ threads: 1, offload: { module: FIXTURE, export: 'notAFunction' } }),
    );
    const big = track(
      createPricingPool({ threads: 1, offload: { module: FIXTURE, export: 'bigint' } }),
    );
    const [a, b, c] = await Promise.all(
      [missing, notFn, big].map((p) => p.submit(Buffer.from(sphere)).catch((e: unknown) => e)),
    );
    expect(a).toMatchObject({
      code: 'OFFLOAD_FAILED',
      message: expect.stringMatching(/no function export "nope".*measure/),
    });
    expect(b).toMatchObject({
      code: 'OFFLOAD_FAILED',
      message: expect.stringMatching(/notAFunction/),
    });
    expect(c).toMatchObject({ code: 'OFFLOAD_FAILED', message: expect.stringMatching(/JSON/) });
  });

  it('refuses a module that does not exist and impossible combinations at construction', () => {
    expectInvalidOption(
      () => createPricingPool({ offload: { module: '/nonexistent/pricing.mjs', export: 'price' } }),
      'createPricingPool',
      'offload.module',
      /offload\.module .*no file at \/nonexistent\/pricing\.mjs/,
    );
    expectInvalidOption(
      () =>
        createPricingPool({
          offload: { module: FIXTURE },
          priceModel: DEFAULT_PRICE_MODEL,
        } as never),
      'createPricingPool',
      'priceModel',
      /priceModel has no effect with offload/,
    );
    expectInvalidOption(
      () => createPricingPool({ offload: { module: FIXTURE }, analyze: { topology: false } }),
      'createPricingPool',
      'analyze.topology',
      /analyze\.topology has no effect with offload/,
    );
    expectInvalidOption(
      () => createPricingPool({ offload: { module: FIXTURE, options: { f: () => 1 } as never } }),
      'createPricingPool',
      'offload.options',
      /must be plain JSON data/,
    );
    expectInvalidOption(
      () => createPricingPool({ offload: { module: FIXTURE, export: '' } }),
      'createPricingPool',
      'offload.export',
    );
  });
});

async function poolCode(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'no error';
  } catch (error) {
    expect(error).toBeInstanceOf(PricingPoolError);
    return (error as PricingPoolError).code;
  }
}
