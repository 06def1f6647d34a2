import { describe, expect, it } from 'vitest';
import {
  LEGACY_PRICING,
  MesError,
  encodeAsciiStl,
  encodeBinaryStl,
  encodeObj,
  generateCubeMesh,
  generateCubeStl,
  generateRingMesh,
  generateRingStl,
  legacyPrice,
  parseModel,
  type Mesh,
} from '../src/index.js';
import { probeWallThickness } from '../src/pricing/legacy.js';

function translated(mesh: Mesh, dx: number, dy: number, dz: number): Mesh {
  const positions = mesh.positions.map((v, i) => v + [dx, dy, dz][i % 3]!);
  return { triangles: mesh.triangles, positions };
}

function expectInvalid(data: Buffer | Uint8Array, message: RegExp): void {
  let caught: unknown;
  try {
    parseModel(data);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(MesError);
  expect((caught as MesError).code).toBe('INVALID_MODEL');
  expect((caught as MesError).message).toMatch(message);
}

describe('legacy pricing geometry', () => {
  it('measures a 10 mm cube exactly: 1000 mm3 and 600 mm2', () => {
    const quote = legacyPrice(generateCubeStl({ sizeMm: 10 }));
    expect(quote.triangles).toBe(12);
    expect(quote.volumeMm3).toBeCloseTo(1000, 9);
    expect(quote.areaMm2).toBeCloseTo(600, 9);
  });

  it('measures a subdivided 7.5 mm cube exactly wherever it sits', () => {
    const cube = translated(generateCubeMesh({ sizeMm: 7.5, subdivisions: 6 }), 120, -40, 3.25);
    const quote = legacyPrice(encodeBinaryStl(cube));
    expect(quote.triangles).toBe(6 * 2 * 36);
    expect(quote.volumeMm3).toBeCloseTo(7.5 ** 3, 6);
    expect(quote.areaMm2).toBeCloseTo(6 * 7.5 ** 2, 6);
  });

  it('gives the same quote for binary STL, ASCII STL and OBJ of the same mesh', () => {
    const ring = generateRingMesh({ triangles: 800 });
    const binary = legacyPrice(encodeBinaryStl(ring));
    // The binary format stores float32: compare the text formats against float32 values too.
    const asFloat32 = {
      triangles: ring.triangles,
      positions: Float64Array.from(Float32Array.from(ring.positions)),
    };
    for (const data of [encodeAsciiStl(asFloat32), encodeObj(asFloat32)]) {
      const quote = legacyPrice(data);
      expect(quote.triangles).toBe(binary.triangles);
      expect(quote.volumeMm3).toBeCloseTo(binary.volumeMm3, 9);
      expect(quote.areaMm2).toBeCloseTo(binary.areaMm2, 9);
      expect(quote.price).toBe(binary.price);
    }
  });

  it('fan-triangulates OBJ quads: an 8-vertex cube with 6 quad faces is 2 x 3 x 4 mm', () => {
    const obj = [
      'v 0 0 0',
      'v 2 0 0',
      'v 2 3 0',
      'v 0 3 0',
      'v 0 0 4',
      'v 2 0 4',
      'v 2 3 4',
      'v 0 3 4',
      'f 1 4 3 2',
      'f 5 6 7 8',
      'f 1 2 6 5',
      'f 2 3 7 6',
      'f 3 4 8 7',
      'f 4 1 5 8',
    ].join('\n');
    const quote = legacyPrice(Buffer.from(obj));
    expect(quote.triangles).toBe(12);
    expect(quote.volumeMm3).toBeCloseTo(24, 12);
    expect(quote.areaMm2).toBeCloseTo(2 * (2 * 3 + 2 * 4 + 3 * 4), 12);
  });

  it('measures the generated ring close to the analytic torus 2 pi^2 R r^2', () => {
    const inner = 17.3;
    const r = 1.2;
    const R = inner / 2 + r;
    const quote = legacyPrice(
      generateRingStl({ triangles: 20_000, innerDiameterMm: inner, bandRadiusMm: r }),
    );
    const volume = 2 * Math.PI ** 2 * R * r * r;
    const area = 4 * Math.PI ** 2 * R * r;
    // An inscribed polyhedron is slightly smaller than the smooth torus.
    expect(quote.volumeMm3).toBeLessThan(volume);
    expect(quote.volumeMm3 / volume).toBeGreaterThan(0.995);
    expect(quote.areaMm2 / area).toBeGreaterThan(0.995);
  });

  it('takes the absolute volume of an inside-out export', () => {
    const cube = generateCubeMesh({ sizeMm: 10 });
    const flipped = new Float64Array(cube.positions);
    for (let t = 0; t < cube.triangles; t++) {
      // Swap the 2nd and 3rd vertex of every triangle: all normals now point inward.
      for (let k = 0; k < 3; k++) {
        flipped[t * 9 + 3 + k] = cube.positions[t * 9 + 6 + k]!;
        flipped[t * 9 + 6 + k] = cube.positions[t * 9 + 3 + k]!;
      }
    }
    expect(
      legacyPrice(encodeBinaryStl({ triangles: cube.triangles, positions: flipped })).volumeMm3,
    ).toBeCloseTo(1000, 9);
  });
});

describe('legacy price', () => {
  it('is metal weight times the gold price plus the complexity surcharge', () => {
    const quote = legacyPrice(generateCubeStl({ sizeMm: 10 }));
    // 1 cm3 of 585 gold, 12 triangles, no thin walls (the cube's opposite faces are 10 mm apart).
    const metal = 1 * LEGACY_PRICING.metalDensityGPerCm3 * LEGACY_PRICING.metalPricePerGram;
    const expected = metal + (12 / 1000) * LEGACY_PRICING.surchargePer1000Triangles;
    expect(quote.price).toBeCloseTo(expected, 2);
    expect(quote.currency).toBe('EUR');
  });

  it('never goes below the minimum price', () => {
    const tiny = legacyPrice(generateCubeStl({ sizeMm: 1 }));
    expect(tiny.price).toBe(LEGACY_PRICING.minimumPrice);
  });

  it('is deterministic', () => {
    const model = generateRingStl({ triangles: 3000 });
    const a = legacyPrice(model);
    const b = legacyPrice(model);
    expect({ ...a, ms: 0 }).toEqual({ ...b, ms: 0 });
  });

  it('charges more for more detailed models of the same ring', () => {
    const coarse = legacyPrice(generateRingStl({ triangles: 2_000 }));
    const fine = legacyPrice(generateRingStl({ triangles: 20_000 }));
    expect(fine.price).toBeGreaterThan(coarse.price);
  });

  it('rejects a work factor that is not a positive number', () => {
    expect(() => legacyPrice(generateCubeStl(), { work: 0 })).toThrow(RangeError);
    expect(() => legacyPrice(generateCubeStl(), { work: Number.NaN })).toThrow(RangeError);
  });
});

describe('legacy complexity pass (regression: must stay quadratic, it is the slow path)', () => {
  it('compares each triangle with a window proportional to the triangle count', () => {
    const smallRing = generateRingMesh({ triangles: 10_000 });
    const largeRing = generateRingMesh({ triangles: 40_000 });
    const small = probeWallThickness(smallRing);
    const large = probeWallThickness(largeRing);
    expect(large.window).toBe(Math.ceil(largeRing.triangles * LEGACY_PRICING.windowFraction));
    // Quadratic: 4x the triangles is ~16x the work (a linear pass would be ~4x).
    const trianglesGrowth = largeRing.triangles / smallRing.triangles;
    expect(large.comparisons / small.comparisons).toBeGreaterThan(trianglesGrowth ** 2 * 0.95);
  });

  it('scales the window with work', () => {
    const ring = generateRingMesh({ triangles: 5_000 });
    const ratio = probeWallThickness(ring, 2).comparisons / probeWallThickness(ring, 1).comparisons;
    expect(ratio).toBeGreaterThan(1.99);
    expect(ratio).toBeLessThan(2.01);
  });

  it('flags thin walls: a 0.5 mm plate has its two big faces thin, a 10 mm cube nothing', () => {
    const cube = generateCubeMesh({ sizeMm: 10, subdivisions: 4 });
    const plate = {
      triangles: cube.triangles,
      positions: cube.positions.map((v, i) => (i % 3 === 2 ? v * 0.05 : v)),
    };
    // A work factor large enough for the window to cover every other triangle.
    const fullScan = 1 / LEGACY_PRICING.windowFraction;
    expect(probeWallThickness(plate, fullScan).thinRatio).toBeCloseTo(2 / 6, 12);
    expect(probeWallThickness(cube, fullScan).thinRatio).toBe(0);
  });
});

describe('parseModel rejects bad models with a clear message', () => {
  it('empty', () => expectInvalid(Buffer.alloc(0), /empty/));

  it('truncated binary STL', () => {
    const stl = generateCubeStl();
    expectInvalid(
      stl.subarray(0, stl.length - 20),
      /truncated binary STL: the header declares 12 triangles/,
    );
  });

  it('binary STL with no facets', () => {
    expectInvalid(Buffer.alloc(84), /no facets/);
  });

  it('ASCII STL with no facets', () => {
    expectInvalid(Buffer.from('solid empty\nendsolid empty\n'), /no facets/);
  });

  it('ASCII STL cut off inside a facet', () => {
    const text = encodeAsciiStl(generateCubeMesh()).toString('latin1');
    expectInvalid(Buffer.from(text.slice(0, text.indexOf('endloop', 500))), /truncated ASCII STL/);
  });

  it('ASCII STL with a quad facet', () => {
    const quad =
      'solid q\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0 0\nvertex 1 1 0\nvertex 0 1 0\nendloop\nendfacet\nendsolid q\n';
    expectInvalid(Buffer.from(quad), /4 vertices; only triangles/);
  });

  it('text that is no model', () =>
    expectInvalid(Buffer.from('hello, this is not a ring'), /not a recognised 3D model/));

  it('random bytes', () => {
    const bytes = Buffer.alloc(500);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919 + 13) % 256;
    expectInvalid(bytes, /binary STL: the header declares \d+ triangles/);
  });

  it('OBJ face pointing at a missing vertex', () => {
    expectInvalid(
      Buffer.from('v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 9\n'),
      /vertex "9" which does not exist/,
    );
  });

  it('OBJ without faces', () => expectInvalid(Buffer.from('v 0 0 0\nv 1 0 0\n'), /no faces/));

  it('non-finite coordinates', () => {
    const stl = generateCubeStl();
    stl.writeFloatLE(Number.NaN, 84 + 12);
    expectInvalid(stl, /not a finite number/);
  });
});
