import { describe, expect, it } from 'vitest';
import {
  generateCubeMesh,
  generateRingMesh,
  generateRingStl,
  parseModel,
  type Mesh,
} from '../src/index.js';

/**
 * A closed, consistently wound mesh uses every directed edge exactly once and its reverse
 * exactly once. Returns the edges that break the rule.
 */
function openEdges(mesh: Mesh): string[] {
  const key = (o: number): string =>
    [mesh.positions[o], mesh.positions[o + 1], mesh.positions[o + 2]]
      .map((v) => v!.toFixed(6))
      .join(',');
  const directed = new Map<string, number>();
  for (let t = 0; t < mesh.triangles; t++) {
    const corners = [0, 1, 2].map((v) => key(t * 9 + v * 3));
    for (let v = 0; v < 3; v++) {
      const edge = `${corners[v]}>${corners[(v + 1) % 3]}`;
      directed.set(edge, (directed.get(edge) ?? 0) + 1);
    }
  }
  const bad: string[] = [];
  for (const [edge, count] of directed) {
    const [a, b] = edge.split('>');
    if (count !== 1 || directed.get(`${b}>${a}`) !== 1) bad.push(edge);
  }
  return bad;
}

describe('generated models', () => {
  it.each([100, 5_000, 50_000])(
    'a ring asked for %i triangles has about that many',
    (triangles) => {
      const ring = generateRingMesh({ triangles });
      expect(Math.abs(ring.triangles - triangles) / triangles).toBeLessThan(0.05);
    },
  );

  it('the ring is closed and consistently wound', () => {
    expect(openEdges(generateRingMesh({ triangles: 2_000 }))).toEqual([]);
  });

  it('the cube is closed and consistently wound', () => {
    expect(openEdges(generateCubeMesh({ sizeMm: 5, subdivisions: 3 }))).toEqual([]);
  });

  it('the ring is ring-sized: 17.3 mm inside, band 2.4 mm thick', () => {
    const { positions } = generateRingMesh({ triangles: 20_000 });
    let minRadius = Infinity;
    let maxRadius = 0;
    let maxZ = 0;
    for (let i = 0; i < positions.length; i += 3) {
      const radius = Math.hypot(positions[i]!, positions[i + 1]!);
      minRadius = Math.min(minRadius, radius);
      maxRadius = Math.max(maxRadius, radius);
      maxZ = Math.max(maxZ, Math.abs(positions[i + 2]!));
    }
    expect(minRadius * 2).toBeCloseTo(17.3, 1);
    expect(maxRadius - minRadius).toBeCloseTo(2.4, 1);
    expect(maxZ).toBeCloseTo(1.2, 2);
  });

  it('the STL is a binary STL of the ring (84 + 50 bytes per triangle)', () => {
    const stl = generateRingStl({ triangles: 1_000 });
    const parsed = parseModel(stl);
    expect(parsed.format).toBe('stl-binary');
    expect(stl.length).toBe(84 + 50 * parsed.triangles);
  });

  it('rejects impossible sizes', () => {
    expect(() => generateRingMesh({ triangles: 0 })).toThrow(RangeError);
    expect(() => generateRingMesh({ triangles: 100, bandRadiusMm: -1 })).toThrow(RangeError);
    expect(() => generateCubeMesh({ subdivisions: 0 })).toThrow(RangeError);
  });
});
