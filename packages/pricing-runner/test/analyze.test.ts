import { describe, expect, it } from 'vitest';
import {
  analyzeMesh,
  releaseScratch,
  retainedScratchBytes,
  SCRATCH_CAP_BYTES,
} from '../src/index.js';
import { scratchInt32 } from '../src/internal/scratch.js';
import { binaryStl, inverted, merge, reference, torus, uvSphere, type TestMesh } from './meshes.js';

function expectClose(actual: number, expected: number, relative = 1e-9): void {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(Math.abs(expected) * relative);
}

function analyze(mesh: TestMesh) {
  return analyzeMesh(binaryStl(mesh));
}

describe('analyzeMesh on closed meshes', () => {
  const cases: [string, TestMesh, number][] = [
    ['UV sphere', uvSphere(10, 40, 64), 1],
    ['torus (ring)', torus(9, 1.5, 96, 24), 1],
    [
      'hollow shell (outer sphere + inverted inner sphere)',
      merge(uvSphere(10, 30, 48), inverted(uvSphere(8, 30, 48))),
      2,
    ],
  ];
  for (const [name, mesh, shells] of cases) {
    it(`matches the independent float64 volume and area of a ${name}`, () => {
      const ref = reference(mesh);
      const result = analyze(mesh);
      expectClose(result.volume, ref.volume);
      expectClose(result.area, ref.area);
      expect(result.triangles).toBe(mesh.triangles.length / 3);
      expect(result.vertices).toBe(mesh.positions.length / 3);
      expect(result.watertight).toBe(true);
      expect(result.shells).toBe(shells);
      expect(result.degenerateFaces).toBe(0);
      expect(result.confidence).toEqual({ volumeTrusted: true, reasons: [] });
      expect(result.edges).toEqual({
        total: (3 * result.triangles) / 2,
        boundary: 0,
        misoriented: 0,
        nonManifold: 0,
      });
    });
  }

  it('gives the hollow shell the volume of the material only (outer minus inner)', () => {
    const outer = uvSphere(10, 30, 48);
    const inner = uvSphere(8, 30, 48);
    const result = analyze(merge(outer, inverted(inner)));
    expectClose(result.volume, reference(outer).volume - reference(inner).volume);
    expect(result.volume).toBeGreaterThan(0);
  });

  it('reports the bounding box in mm', () => {
    const result = analyze(uvSphere(10, 20, 32, [5, -3, 2]));
    expect(result.bbox.min[2]).toBe(Math.fround(-8));
    expect(result.bbox.max[2]).toBe(Math.fround(12));
    expect(result.bbox.size[2]).toBe(20);
  });

  it('keeps full accuracy for a model placed far from the origin', () => {
    const near = uvSphere(1, 24, 32);
    const far = uvSphere(1, 24, 32, [5000, 5000, 5000]);
    // Float32 positions differ slightly after translation; compare each with its own reference.
    expectClose(analyze(far).volume, reference(far).volume, 1e-7);
    expectClose(analyze(near).volume, reference(near).volume);
  });
});

describe('analyzeMesh on defective meshes', () => {
  it('counts two separate spheres as two shells', () => {
    const result = analyze(merge(uvSphere(5, 16, 24), uvSphere(5, 16, 24, [20, 0, 0])));
    expect(result.shells).toBe(2);
    expect(result.watertight).toBe(true);
  });

  it('finds the hole left by a missing face and distrusts the volume', () => {
    const sphere = uvSphere(10, 20, 32);
    const holed = { positions: sphere.positions, triangles: sphere.triangles.slice(3) };
    const result = analyze(holed);
    expect(result.watertight).toBe(false);
    expect(result.edges?.boundary).toBe(3);
    expect(result.confidence.volumeTrusted).toBe(false);
    expect(result.confidence.reasons.join()).toMatch(/^OPEN_MESH/);
  });

  it('detects a face whose orientation disagrees with its neighbours', () => {
    const sphere = uvSphere(10, 20, 32);
    const triangles = sphere.triangles.slice();
    [triangles[31], triangles[32]] = [triangles[32]!, triangles[31]!];
    const result = analyze({ positions: sphere.positions, triangles });
    expect(result.watertight).toBe(false);
    expect(result.edges).toMatchObject({ boundary: 0, misoriented: 3, nonManifold: 0 });
    expect(result.confidence.reasons.join()).toMatch(/INCONSISTENT_ORIENTATION/);
  });

  it('flags a mesh that is closed but inside out', () => {
    const result = analyze(inverted(uvSphere(10, 20, 32)));
    expect(result.watertight).toBe(true);
    expect(result.volume).toBeLessThan(0);
    expect(result.confidence.volumeTrusted).toBe(false);
    expect(result.confidence.reasons.join()).toMatch(/INVERTED/);
  });

  it('detects edges shared by more than two faces (two copies of one sphere)', () => {
    const sphere = uvSphere(10, 12, 16);
    const result = analyze(merge(sphere, sphere));
    expect(result.watertight).toBe(false);
    expect(result.edges?.nonManifold).toBe(result.edges?.total);
  });

  it('counts degenerate faces without letting them open the mesh', () => {
    const sphere = uvSphere(10, 20, 32);
    // A collapsed face (two corners at one position) and a sliver along an existing edge.
    const triangles = [...sphere.triangles, 0, 0, 1];
    const result = analyze({ positions: sphere.positions, triangles });
    expect(result.degenerateFaces).toBe(1);
    expect(result.watertight).toBe(true);
    expect(result.confidence.reasons.join()).toMatch(/DEGENERATE_FACES: 1/);
    expectClose(result.volume, reference(sphere).volume);
  });

  it('welds +0 and -0 as one position', () => {
    const sphere = uvSphere(10, 8, 12);
    const stl = binaryStl(sphere);
    // Rewrite every +0 coordinate as -0: the bits differ, the position does not.
    for (let o = 84; o < stl.length; o += 50) {
      for (let c = 0; c < 9; c++)
        if (stl.readUInt32LE(o + 12 + 4 * c) === 0 && c % 2 === 0)
          stl.writeUInt32LE(0x80000000, o + 12 + 4 * c);
    }
    expect(analyzeMesh(stl).watertight).toBe(true);
  });

  it('skips topology on request and says the volume is unchecked', () => {
    const result = analyzeMesh(binaryStl(uvSphere(10, 8, 12)), { topology: false });
    expect(result.watertight).toBeNull();
    expect(result.shells).toBeNull();
    expect(result.confidence.volumeTrusted).toBe(false);
  });
});

describe('welding', () => {
  it('rejoins vertices met again after the recent-vertex cache forgot them (faces shuffled)', () => {
    // 40k faces in random order: most repeat uses of a vertex miss the small cache of recent
    // vertices and get provisional ids that the dedupe pass must merge back.
    const sphere = uvSphere(10, 100, 200);
    const faces = sphere.triangles.length / 3;
    let seed = 7;
    const order = Array.from({ length: faces }, (_, i) => i);
    for (let i = faces - 1; i > 0; i--) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      const j = seed % (i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const triangles = order.flatMap((f) => sphere.triangles.slice(3 * f, 3 * f + 3));
    const result = analyze({ positions: sphere.positions, triangles });
    expect(result.vertices).toBe(sphere.positions.length / 3);
    expect(result.watertight).toBe(true);
    expect(result.shells).toBe(1);
    expectClose(result.volume, reference(sphere).volume);
  });
});

describe('scratch buffer reuse', () => {
  it('gives identical results when buffers are reused across calls of different sizes', () => {
    const big = binaryStl(uvSphere(10, 60, 90));
    const small = binaryStl(torus(9, 1.5, 48, 12));
    const open = binaryStl({
      positions: [0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1],
      triangles: [0, 1, 2, 0, 3, 1, 0, 2, 3],
    });
    releaseScratch();
    const fresh = [big, small, open].map((b) => {
      releaseScratch();
      return analyzeMesh(b);
    });
    // Large first, then smaller models reuse (larger, dirty) buffers, then large again.
    const reused = [big, small, open, big, open, small].map((b) => analyzeMesh(b));
    expect(retainedScratchBytes()).toBeGreaterThan(0);
    expect(retainedScratchBytes()).toBeLessThanOrEqual(SCRATCH_CAP_BYTES);
    expect(reused).toEqual([fresh[0], fresh[1], fresh[2], fresh[0], fresh[2], fresh[1]]);
    expect(fresh[2]!.watertight).toBe(false);
    expect(fresh[2]!.edges!.boundary).toBe(3);
    releaseScratch();
    expect(retainedScratchBytes()).toBe(0);
    expect(analyzeMesh(small)).toEqual(fresh[1]);
  });
});

describe('scratch pool', () => {
  it('retains up to the cap and allocates fresh beyond it', () => {
    releaseScratch();
    const a = scratchInt32('test.a', 1000);
    expect(a.length).toBe(1000);
    a.fill(7);
    // Same slot, smaller request: the same memory again (contents unspecified).
    const b = scratchInt32('test.a', 500);
    expect(b.buffer).toBe(a.buffer);
    const held = retainedScratchBytes();
    expect(held).toBeGreaterThanOrEqual(4000);
    // Over the cap: a fresh array, nothing more retained.
    const huge = scratchInt32('test.huge', SCRATCH_CAP_BYTES / 4 + 1);
    expect(huge.length).toBe(SCRATCH_CAP_BYTES / 4 + 1);
    expect(retainedScratchBytes()).toBe(held);
    releaseScratch();
    expect(retainedScratchBytes()).toBe(0);
  });
});
