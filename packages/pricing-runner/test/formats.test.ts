import { describe, expect, it } from 'vitest';
import { analyzeMesh, detectFormat, type MeshAnalysis } from '../src/index.js';
import {
  asciiStl,
  binaryStl,
  meshXml,
  obj,
  reference,
  threeMf,
  torus,
  uvSphere,
  merge,
  type TestMesh,
} from './meshes.js';

function summary(r: MeshAnalysis) {
  return {
    triangles: r.triangles,
    vertices: r.vertices,
    volume: r.volume,
    area: r.area,
    bbox: r.bbox,
    shells: r.shells,
    watertight: r.watertight,
    edges: r.edges,
    degenerateFaces: r.degenerateFaces,
    confidence: r.confidence,
  };
}

function expectClose(actual: number, expected: number, relative = 1e-9): void {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(Math.abs(expected) * relative);
}

describe('every format gives the same analysis of the same mesh', () => {
  const ring = torus(8, 1.2, 48, 16);
  const expected = summary(analyzeMesh(binaryStl(ring)));

  it('binary STL', () => {
    expect(analyzeMesh(binaryStl(ring)).format).toBe('stl-binary');
    expectClose(expected.volume, reference(ring).volume);
  });

  it('binary STL whose 80-byte header starts with "solid"', () => {
    const stl = binaryStl(
      ring,
      'solid ring exported by a CAD tool that writes solid in binary headers',
    );
    expect(detectFormat(stl)).toBe('stl-binary');
    expect(summary(analyzeMesh(stl))).toEqual(expected);
  });

  it('binary STL with trailing bytes, tolerated with a warning', () => {
    const stl = Buffer.concat([binaryStl(ring), Buffer.from('trailing junk')]);
    const result = analyzeMesh(stl);
    expect(summary(result)).toEqual(expected);
    expect(result.warnings.join()).toMatch(/TRAILING_BYTES: ignored 13 bytes/);
  });

  it('binary STL whose header count is 0 but whose size holds whole triangles (recovered)', () => {
    const stl = binaryStl(ring);
    stl.writeUInt32LE(0, 80);
    const result = analyzeMesh(stl, { format: 'stl-binary' });
    expect(summary(result)).toEqual(expected);
    expect(result.warnings.join()).toMatch(/RECOVERED_COUNT/);
  });

  it('ASCII STL', () => {
    const result = analyzeMesh(asciiStl(ring));
    expect(result.format).toBe('stl-ascii');
    expect(summary(result)).toEqual(expected);
  });

  it('OBJ with v, v/vt, v//vn and v/vt/vn faces and negative indices', () => {
    const file = obj(ring);
    expect(file.toString()).toMatch(/f -?\d+\/1 /);
    expect(file.toString()).toMatch(/f -?\d+\/\/1 /);
    expect(file.toString()).toMatch(/f -?\d+\/1\/1 /);
    expect(file.toString()).toMatch(/ -\d+/);
    const result = analyzeMesh(file);
    expect(result.format).toBe('obj');
    expect(summary(result)).toEqual(expected);
  });

  it('OBJ polygons are fan-triangulated', () => {
    const quadCube = [
      'v 0 0 0',
      'v 10 0 0',
      'v 10 10 0',
      'v 0 10 0',
      'v 0 0 10',
      'v 10 0 10',
      'v 10 10 10',
      'v 0 10 10',
      'f 1 4 3 2',
      'f 5 6 7 8',
      'f 1 2 6 5',
      'f 2/1 3/1 7/1 6/1',
      'f 3//1 4//1 8//1 7//1',
      'f -8 -4 -1 -5',
    ].join('\n');
    const result = analyzeMesh(Buffer.from(quadCube));
    expect(result).toMatchObject({
      triangles: 12,
      volume: 1000,
      area: 600,
      watertight: true,
      shells: 1,
    });
  });

  it('3MF in millimetres', () => {
    const model = `<?xml version="1.0" encoding="UTF-8"?>
<model unit="millimeter" xml:lang="en-US" xmlns="http://schemas.microsoft.com/3dmanufacturing/core/2015/02">
<resources><object id="1" type="model">${meshXml(ring)}</object></resources>
<build><item objectid="1"/></build></model>`;
    const result = analyzeMesh(threeMf(model));
    expect(result.format).toBe('3mf');
    expect(summary(result)).toEqual(expected);
  });
});

describe('3MF units, components and build items', () => {
  const sphere = uvSphere(5, 16, 24);
  const ref = reference(sphere);

  for (const [unit, mm] of [
    ['micron', 0.001],
    ['centimeter', 10],
    ['inch', 25.4],
    ['foot', 304.8],
    ['meter', 1000],
  ] as const) {
    it(`converts ${unit} to mm`, () => {
      const model = `<model unit="${unit}"><resources><object id="7">${meshXml(sphere, 1 / mm)}</object></resources><build><item objectid="7"/></build></model>`;
      const result = analyzeMesh(threeMf(model));
      expectClose(result.volume, ref.volume, 1e-9);
      expectClose(result.area, ref.area, 1e-9);
      expect(result.watertight).toBe(true);
    });
  }

  it('places two build items, one through a component, with transforms (incl. a mirror)', () => {
    // Item 1: the mesh translated by (100, 0, 0). Item 2: an assembly whose component scales
    // by 2, placed with a mirror in x: still a solid with positive volume.
    const model = `<model unit="millimeter" xmlns="http://schemas.microsoft.com/3dmanufacturing/core/2015/02">
<resources>
  <object id="1" type="model">${meshXml(sphere)}</object>
  <object id="2" type="model"><components><component objectid="1" transform="2 0 0 0 2 0 0 0 2 0 0 30"/></components></object>
  <object id="3" type="support">${meshXml(uvSphere(1, 6, 8))}</object>
</resources>
<build>
  <item objectid="1" transform="1 0 0 0 1 0 0 0 1 100 0 0"/>
  <item objectid="2" transform="-1 0 0 0 1 0 0 0 1 0 0 0"/>
  <item objectid="3"/>
</build></model>`;
    const result = analyzeMesh(threeMf(model));
    expect(result.triangles).toBe((2 * sphere.triangles.length) / 3);
    expect(result.shells).toBe(2);
    expect(result.watertight).toBe(true);
    expectClose(result.volume, ref.volume * (1 + 8), 1e-9);
    expectClose(result.area, ref.area * (1 + 4), 1e-9);
    expect(result.bbox.max[0]).toBeCloseTo(105, 5);
    expect(result.bbox.max[2]).toBeCloseTo(40, 5);
    expect(result.warnings.join()).toMatch(/skipped objects of type support/);
  });
});

describe('several parts in one file', () => {
  it('counts shells the same in every format', () => {
    const two = merge(uvSphere(3, 10, 12), uvSphere(3, 10, 12, [10, 0, 0]));
    for (const file of [binaryStl(two), asciiStl(two), obj(two)] as Buffer[]) {
      expect(analyzeMesh(file).shells).toBe(2);
    }
  });
});

export type { TestMesh };
