// The MES's own pricing, ported faithfully: parse the model, measure it, run the naive
// "thickness/complexity" pass, and price the metal plus a surcharge.
//
// LEGACY (deliberate): the complexity pass compares every triangle with a window of other
// triangles whose size grows with the triangle count, so its cost is quadratic in the
// polygons. This is the 2-30 minute pricing of CASE.md, scaled down to seconds. Do not fix it
// here: meskit's pricing-runner is what makes it fast (or moves it off the event loop).
import { performance } from 'node:perf_hooks';
import { unitNormal, type Mesh } from '../models.js';
import { parseModel } from './parse.js';

/** The inputs of the legacy price formula, exposed so tests and docs can quote them. */
export const LEGACY_PRICING = {
  currency: 'EUR',
  /** 585 (14k) gold. */
  metalDensityGPerCm3: 13.0,
  metalPricePerGram: 48,
  /** Complexity surcharge per 1000 triangles: finishing work grows with detail. */
  surchargePer1000Triangles: 0.6,
  /** Extra share of the metal price for models whose walls are thinner than `thinWallMm`. */
  thinWallSurcharge: 0.15,
  thinWallMm: 0.8,
  minimumPrice: 60,
  /** Share of the triangle count each triangle is compared with (times `work`). */
  windowFraction: 0.06,
} as const;

export interface LegacyPricingOptions {
  /** Scales the naive complexity pass (its window); 2 means about twice the time. Default: 1.0. */
  work?: number;
}

export interface LegacyQuote {
  triangles: number;
  volumeMm3: number;
  areaMm2: number;
  /** In `currency`, rounded to cents. */
  price: number;
  currency: string;
  /** Wall-clock time of the whole pricing, parse included. */
  ms: number;
}

/** The result of the naive complexity pass. */
export interface ThicknessProbe {
  /** Share of triangles with an opposite-facing triangle closer than `thinWallMm`. */
  thinRatio: number;
  /** Triangles each triangle was compared with. */
  window: number;
  /** Pairs compared in total: `triangles * window`, i.e. quadratic in the triangle count. */
  comparisons: number;
}

/**
 * Prices a model (binary STL, ASCII STL or OBJ) the legacy way: synchronously, on the calling
 * thread. Deterministic except for `ms`. Throws MesError `INVALID_MODEL` for a bad model.
 */
export function legacyPrice(
  model: Buffer | Uint8Array,
  opts: LegacyPricingOptions = {},
): LegacyQuote {
  const work = opts.work ?? 1;
  if (!Number.isFinite(work) || work <= 0) {
    throw new RangeError(`legacyPrice: work must be a finite number > 0, got ${String(work)}`);
  }
  const started = performance.now();
  const mesh = parseModel(model);
  const { volumeMm3, areaMm2 } = measureMesh(mesh);
  const probe = probeWallThickness(mesh, work);

  const grams = (volumeMm3 / 1000) * LEGACY_PRICING.metalDensityGPerCm3;
  const metal = grams * LEGACY_PRICING.metalPricePerGram;
  const surcharge =
    (mesh.triangles / 1000) * LEGACY_PRICING.surchargePer1000Triangles +
    metal * LEGACY_PRICING.thinWallSurcharge * probe.thinRatio;
  const price = roundCents(Math.max(LEGACY_PRICING.minimumPrice, metal + surcharge));

  return {
    triangles: mesh.triangles,
    volumeMm3,
    areaMm2,
    price,
    currency: LEGACY_PRICING.currency,
    ms: performance.now() - started,
  };
}

/**
 * Volume by the divergence theorem (sum of signed tetrahedra from the origin: exact for a
 * closed, consistently wound mesh wherever it sits) and surface area (sum of triangle areas).
 */
export function measureMesh(mesh: Mesh): { volumeMm3: number; areaMm2: number } {
  const p = mesh.positions;
  let sixVolume = 0;
  let twiceArea = 0;
  for (let o = 0; o < mesh.triangles * 9; o += 9) {
    const ax = p[o]!;
    const ay = p[o + 1]!;
    const az = p[o + 2]!;
    const bx = p[o + 3]!;
    const by = p[o + 4]!;
    const bz = p[o + 5]!;
    const cx = p[o + 6]!;
    const cy = p[o + 7]!;
    const cz = p[o + 8]!;
    sixVolume += ax * (by * cz - bz * cy) - ay * (bx * cz - bz * cx) + az * (bx * cy - by * cx);
    const ux = bx - ax;
    const uy = by - ay;
    const uz = bz - az;
    const vx = cx - ax;
    const vy = cy - ay;
    const vz = cz - az;
    twiceArea += Math.hypot(uy * vz - uz * vy, uz * vx - ux * vz, ux * vy - uy * vx);
  }
  // An inside-out export has a negative signed volume; the metal weighs the same.
  return { volumeMm3: Math.abs(sixVolume) / 6, areaMm2: twiceArea / 2 };
}

/**
 * LEGACY (deliberate): the naive wall-thickness probe. For each triangle it scans the next
 * `window = ceil(n * windowFraction * work)` triangles (wrapping round) for the nearest
 * opposite-facing one. No spatial index, so the work is n * window: quadratic in n.
 */
export function probeWallThickness(mesh: Mesh, work = 1): ThicknessProbe {
  const n = mesh.triangles;
  const window = Math.max(0, Math.min(n - 1, Math.ceil(n * LEGACY_PRICING.windowFraction * work)));
  const centroids = new Float64Array(n * 3);
  const normals = new Float64Array(n * 3);
  const p = mesh.positions;
  for (let t = 0; t < n; t++) {
    const o = t * 9;
    for (let k = 0; k < 3; k++)
      centroids[t * 3 + k] = (p[o + k]! + p[o + 3 + k]! + p[o + 6 + k]!) / 3;
    normals.set(unitNormal(p, o), t * 3);
  }

  const thinSquared = LEGACY_PRICING.thinWallMm * LEGACY_PRICING.thinWallMm;
  let thin = 0;
  for (let i = 0; i < n; i++) {
    const cx = centroids[i * 3]!;
    const cy = centroids[i * 3 + 1]!;
    const cz = centroids[i * 3 + 2]!;
    const nx = normals[i * 3]!;
    const ny = normals[i * 3 + 1]!;
    const nz = normals[i * 3 + 2]!;
    let nearest = Infinity;
    let j = i;
    for (let k = 0; k < window; k++) {
      j = j + 1 === n ? 0 : j + 1;
      const facing = nx * normals[j * 3]! + ny * normals[j * 3 + 1]! + nz * normals[j * 3 + 2]!;
      if (facing < -0.5) {
        const dx = centroids[j * 3]! - cx;
        const dy = centroids[j * 3 + 1]! - cy;
        const dz = centroids[j * 3 + 2]! - cz;
        const d2 = dx * dx + dy * dy + dz * dz;
        if (d2 < nearest) nearest = d2;
      }
    }
    if (nearest < thinSquared) thin++;
  }
  return { thinRatio: n === 0 ? 0 : thin / n, window, comparisons: n * window };
}

function roundCents(value: number): number {
  return Math.round(value * 100) / 100;
}
