// The jewelry price model: metal by weight, casting and finishing by surface and
// complexity, a floor. Configuration is plain JSON so shops can keep it beside their MES
// config; `version` goes into cache keys, so bump it whenever any number changes.

import { PriceModelError } from './errors.js';
import type { MeshAnalysis } from './analyze.js';

export interface AlloyConfig {
  /** Density in g/cm³. */
  density: number;
  /** Metal price per gram of alloy, in the model's currency. */
  pricePerGram: number;
  /** Extra metal lost in casting (sprues, polishing), as a fraction: 0.05 = 5 %. */
  lossFactor: number;
}

export interface PriceModel {
  /** Changes whenever any figure changes; part of every cache key. */
  version: string;
  /** ISO 4217 code, e.g. "EUR". */
  currency: string;
  alloys: Record<string, AlloyConfig>;
  /** The alloy used when the caller names none. */
  defaultAlloy: string;
  casting: {
    /** Fixed cost per piece (tree setup, investment, flask). */
    base: number;
    /** Per cm³ of metal (larger pieces take longer to cast and clean). */
    perCm3: number;
  };
  finishing: {
    /** Per cm² of surface to file, sand and polish. */
    perCm2: number;
    /**
     * Complexity surcharge: surface-to-volume ratio (1/mm) above which a piece counts as
     * intricate (filigree, thin prongs), and the cost per unit above it per cm² of surface.
     */
    complexityThreshold: number;
    perCm2PerComplexity: number;
  };
  /** No quote is below this. */
  minimumPrice: number;
}

export interface PriceItem {
  name: 'metal' | 'casting' | 'finishing' | 'complexity' | 'minimum-price-adjustment';
  amount: number;
  detail: string;
}

export interface PriceQuote {
  total: number;
  currency: string;
  items: PriceItem[];
  metalGrams: number;
  alloy: string;
  modelVersion: string;
}

/**
 * Defaults with sources. Densities are nominal figures for common casting alloys:
 * - gold 585 (14 kt) yellow: 13.1 g/cm³; the range is about 12.9-14.6 depending on the
 *   silver/copper balance (white 14 kt with nickel/palladium is higher). Source: Legor and
 *   Hoover & Strong alloy data sheets; Ganoksin "Metals & alloys: densities" table.
 * - gold 750 (18 kt) yellow: 15.5 g/cm³ (range 15.2-15.9). Same sources.
 * - silver 925 (sterling): 10.36 g/cm³. Source: Ganoksin density table; Rio Grande data.
 * - platinum 950 (Pt/Ru or Pt/Co): 20.7 g/cm³ for Pt950Ru (Pt950Ir is about 21.4).
 *   Source: Johnson Matthey "Platinum alloys for jewellery" data.
 * Prices per gram are placeholders of the right order (late 2025), meant to be configured.
 */
export const DEFAULT_PRICE_MODEL: PriceModel = {
  version: '2025-11-1',
  currency: 'EUR',
  defaultAlloy: 'gold-750',
  alloys: {
    'gold-585': { density: 13.1, pricePerGram: 68, lossFactor: 0.05 },
    'gold-750': { density: 15.5, pricePerGram: 88, lossFactor: 0.05 },
    'silver-925': { density: 10.36, pricePerGram: 1.4, lossFactor: 0.07 },
    'platinum-950': { density: 20.7, pricePerGram: 40, lossFactor: 0.04 },
  },
  casting: { base: 25, perCm3: 8 },
  finishing: { perCm2: 1.5, complexityThreshold: 1.2, perCm2PerComplexity: 2 },
  minimumPrice: 45,
};

/** Checks every field and returns a frozen copy; throws PriceModelError naming the first bad one. */
export function validatePriceModel(input: unknown): PriceModel {
  const root = object(input, '(root)');
  const version = text(root['version'], 'version');
  const currency = text(root['currency'], 'currency');
  if (!/^[A-Z]{3}$/.test(currency))
    throw new PriceModelError(
      'currency',
      `must be a 3-letter ISO 4217 code like "EUR", got "${currency}"`,
    );
  const alloysIn = object(root['alloys'], 'alloys');
  const alloys: Record<string, AlloyConfig> = {};
  for (const [name, raw] of Object.entries(alloysIn)) {
    const a = object(raw, `alloys.${name}`);
    alloys[name] = Object.freeze({
      density: positive(a['density'], `alloys.${name}.density`),
      pricePerGram: nonNegative(a['pricePerGram'], `alloys.${name}.pricePerGram`),
      lossFactor: fraction(a['lossFactor'], `alloys.${name}.lossFactor`),
    });
  }
  if (Object.keys(alloys).length === 0)
    throw new PriceModelError('alloys', 'must define at least one alloy');
  const defaultAlloy = text(root['defaultAlloy'], 'defaultAlloy');
  if (!(defaultAlloy in alloys))
    throw new PriceModelError(
      'defaultAlloy',
      `"${defaultAlloy}" is not one of the alloys (${Object.keys(alloys).join(', ')})`,
    );
  const casting = object(root['casting'], 'casting');
  const finishing = object(root['finishing'], 'finishing');
  return Object.freeze({
    version,
    currency,
    alloys: Object.freeze(alloys),
    defaultAlloy,
    casting: Object.freeze({
      base: nonNegative(casting['base'], 'casting.base'),
      perCm3: nonNegative(casting['perCm3'], 'casting.perCm3'),
    }),
    finishing: Object.freeze({
      perCm2: nonNegative(finishing['perCm2'], 'finishing.perCm2'),
      complexityThreshold: nonNegative(
        finishing['complexityThreshold'],
        'finishing.complexityThreshold',
      ),
      perCm2PerComplexity: nonNegative(
        finishing['perCm2PerComplexity'],
        'finishing.perCm2PerComplexity',
      ),
    }),
    minimumPrice: nonNegative(root['minimumPrice'], 'minimumPrice'),
  });
}

export interface PriceOptions {
  /** Alloy name from the model. Default: the model's `defaultAlloy`. */
  alloy?: string;
  /** The price model. Default: DEFAULT_PRICE_MODEL. Validate custom ones with validatePriceModel. */
  model?: PriceModel;
}

/**
 * Prices a piece from its analysis. Amounts are rounded to cents per item, and the total is
 * the sum of the rounded items, so the itemisation always adds up. Refuses (PriceModelError,
 * field `volume`) a volume that is not positive: a price from an inside-out mesh is nonsense.
 */
export function priceMesh(
  analysis: Pick<MeshAnalysis, 'volume' | 'area'>,
  opts: PriceOptions = {},
): PriceQuote {
  const model = opts.model ?? DEFAULT_PRICE_MODEL;
  const alloyName = opts.alloy ?? model.defaultAlloy;
  const alloy = model.alloys[alloyName];
  if (!alloy)
    throw new PriceModelError(
      'alloy',
      `"${alloyName}" is not in the price model (${Object.keys(model.alloys).join(', ')})`,
    );
  if (!(analysis.volume > 0) || !Number.isFinite(analysis.volume)) {
    throw new PriceModelError(
      'volume',
      `must be positive to price a piece, got ${analysis.volume} mm³`,
    );
  }
  const cm3 = analysis.volume / 1000;
  const cm2 = analysis.area / 100;
  const metalGrams = cm3 * alloy.density;
  const billedGrams = metalGrams * (1 + alloy.lossFactor);
  const items: PriceItem[] = [
    {
      name: 'metal',
      amount: cents(billedGrams * alloy.pricePerGram),
      detail: `${round(metalGrams, 3)} g ${alloyName} (${round(cm3, 4)} cm³ × ${alloy.density} g/cm³) + ${round(alloy.lossFactor * 100, 2)} % casting loss at ${alloy.pricePerGram}/g`,
    },
    {
      name: 'casting',
      amount: cents(model.casting.base + cm3 * model.casting.perCm3),
      detail: `${model.casting.base} per piece + ${round(cm3, 4)} cm³ × ${model.casting.perCm3}`,
    },
    {
      name: 'finishing',
      amount: cents(cm2 * model.finishing.perCm2),
      detail: `${round(cm2, 3)} cm² × ${model.finishing.perCm2}`,
    },
  ];
  // Surface per volume (1/mm) grows as parts get thinner: filigree takes hand work that a
  // plain band does not. Only the part above the threshold is charged.
  const ratio = analysis.area / analysis.volume;
  const excess = ratio - model.finishing.complexityThreshold;
  if (excess > 0 && model.finishing.perCm2PerComplexity > 0) {
    items.push({
      name: 'complexity',
      amount: cents(excess * cm2 * model.finishing.perCm2PerComplexity),
      detail: `surface/volume ${round(ratio, 3)}/mm over threshold ${model.finishing.complexityThreshold}/mm: ${round(excess, 3)} × ${round(cm2, 3)} cm² × ${model.finishing.perCm2PerComplexity}`,
    });
  }
  let total = cents(items.reduce((sum, item) => sum + item.amount, 0));
  if (total < model.minimumPrice) {
    items.push({
      name: 'minimum-price-adjustment',
      amount: cents(model.minimumPrice - total),
      detail: `raised to the minimum price ${model.minimumPrice}`,
    });
    total = cents(model.minimumPrice);
  }
  return {
    total,
    currency: model.currency,
    items,
    metalGrams,
    alloy: alloyName,
    modelVersion: model.version,
  };
}

function cents(x: number): number {
  return Math.round(x * 100) / 100;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function object(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new PriceModelError(
      field,
      `must be an object, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`,
    );
  }
  return value as Record<string, unknown>;
}

function text(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.trim() === '')
    throw new PriceModelError(field, `must be a non-empty string, got ${JSON.stringify(value)}`);
  return value;
}

function nonNegative(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new PriceModelError(field, `must be a finite number >= 0, got ${JSON.stringify(value)}`);
  }
  return value;
}

function positive(value: unknown, field: string): number {
  const v = nonNegative(value, field);
  if (v === 0) throw new PriceModelError(field, 'must be greater than 0');
  return v;
}

function fraction(value: unknown, field: string): number {
  const v = nonNegative(value, field);
  if (v >= 1) throw new PriceModelError(field, `must be a fraction below 1 (0.05 = 5 %), got ${v}`);
  return v;
}
