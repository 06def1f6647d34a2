import { describe, expect, it } from 'vitest';
import {
  DEFAULT_PRICE_MODEL,
  PriceModelError,
  priceMesh,
  validatePriceModel,
  type PriceModel,
} from '../src/index.js';

function clone(): Record<string, unknown> {
  return JSON.parse(JSON.stringify(DEFAULT_PRICE_MODEL)) as Record<string, unknown>;
}

function fieldOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(PriceModelError);
    expect((error as PriceModelError).code).toBe('BAD_PRICE_MODEL');
    return (error as PriceModelError).field;
  }
  return 'no error';
}

describe('priceMesh', () => {
  // A solid ring of about 1.2 cm³ and 9 cm² of surface.
  const ring = { volume: 1200, area: 900 };

  it('itemises metal, casting and finishing, and the items add up to the total', () => {
    const quote = priceMesh(ring, { alloy: 'gold-750' });
    const gold = DEFAULT_PRICE_MODEL.alloys['gold-750']!;
    expect(quote.metalGrams).toBeCloseTo(1.2 * gold.density, 12);
    expect(quote.alloy).toBe('gold-750');
    expect(quote.currency).toBe('EUR');
    expect(quote.modelVersion).toBe(DEFAULT_PRICE_MODEL.version);
    expect(quote.items.map((i) => i.name)).toEqual(['metal', 'casting', 'finishing']);
    const metal = quote.items[0]!;
    expect(metal.amount).toBeCloseTo(
      1.2 * gold.density * (1 + gold.lossFactor) * gold.pricePerGram,
      2,
    );
    expect(metal.detail).toMatch(/18\.6 g gold-750/);
    const sum = quote.items.reduce((s, i) => s + i.amount, 0);
    expect(quote.total).toBeCloseTo(sum, 9);
  });

  it('uses the denser, dearer alloy for a higher price', () => {
    expect(priceMesh(ring, { alloy: 'platinum-950' }).metalGrams).toBeGreaterThan(
      priceMesh(ring, { alloy: 'gold-585' }).metalGrams,
    );
    expect(priceMesh(ring, { alloy: 'silver-925' }).total).toBeLessThan(
      priceMesh(ring, { alloy: 'gold-585' }).total,
    );
  });

  it('charges a complexity surcharge for intricate pieces (high surface per volume)', () => {
    const filigree = { volume: 200, area: 1000 }; // 5 /mm, over the 1.2 /mm threshold
    const quote = priceMesh(filigree, { alloy: 'silver-925' });
    const item = quote.items.find((i) => i.name === 'complexity');
    expect(item?.amount).toBeCloseTo((5 - 1.2) * 10 * 2, 2);
    expect(priceMesh(ring).items.some((i) => i.name === 'complexity')).toBe(false);
  });

  it('raises a cheap piece to the minimum price with an explicit adjustment item', () => {
    const quote = priceMesh({ volume: 10, area: 30 }, { alloy: 'silver-925' });
    expect(quote.total).toBe(DEFAULT_PRICE_MODEL.minimumPrice);
    expect(quote.items.at(-1)?.name).toBe('minimum-price-adjustment');
    expect(quote.items.reduce((s, i) => s + i.amount, 0)).toBeCloseTo(quote.total, 9);
  });

  it('refuses an unknown alloy and a non-positive volume', () => {
    expect(fieldOf(() => priceMesh(ring, { alloy: 'gold-999' }))).toBe('alloy');
    expect(fieldOf(() => priceMesh({ volume: -5, area: 10 }))).toBe('volume');
  });

  it('prices with a custom, validated model', () => {
    const custom = clone();
    custom['currency'] = 'CHF';
    custom['version'] = 'shop-7';
    const model: PriceModel = validatePriceModel(custom);
    const quote = priceMesh(ring, { model });
    expect(quote).toMatchObject({ currency: 'CHF', modelVersion: 'shop-7' });
  });
});

describe('validatePriceModel', () => {
  it('accepts the documented default', () => {
    expect(validatePriceModel(clone())).toEqual(DEFAULT_PRICE_MODEL);
  });

  const cases: [string, (m: Record<string, unknown>) => void, string][] = [
    ['a missing version', (m) => delete m['version'], 'version'],
    ['a lower-case currency', (m) => (m['currency'] = 'eur'), 'currency'],
    [
      'a zero density',
      (m) => ((m['alloys'] as Record<string, Record<string, unknown>>)['gold-585']!['density'] = 0),
      'alloys.gold-585.density',
    ],
    [
      'a negative metal price',
      (m) =>
        ((m['alloys'] as Record<string, Record<string, unknown>>)['silver-925']!['pricePerGram'] =
          -1),
      'alloys.silver-925.pricePerGram',
    ],
    [
      'a loss factor given in percent',
      (m) =>
        ((m['alloys'] as Record<string, Record<string, unknown>>)['gold-750']!['lossFactor'] = 5),
      'alloys.gold-750.lossFactor',
    ],
    ['no alloys', (m) => (m['alloys'] = {}), 'alloys'],
    ['a default alloy not defined', (m) => (m['defaultAlloy'] = 'brass'), 'defaultAlloy'],
    [
      'a string where a number belongs',
      (m) => ((m['casting'] as Record<string, unknown>)['base'] = '25'),
      'casting.base',
    ],
    ['a missing finishing section', (m) => delete m['finishing'], 'finishing'],
    ['a NaN minimum price', (m) => (m['minimumPrice'] = Number.NaN), 'minimumPrice'],
  ];
  for (const [what, mutate, field] of cases) {
    it(`names the field for ${what}`, () => {
      const m = clone();
      mutate(m);
      expect(fieldOf(() => validatePriceModel(m))).toBe(field);
    });
  }

  it('refuses a non-object', () => {
    expect(fieldOf(() => validatePriceModel('gold'))).toBe('(root)');
  });
});
