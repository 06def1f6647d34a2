// Sample 3D models: the rings the shop's customers upload, and exact solids for tests.
// Units are millimetres throughout, like the jewelry CAD files the MES receives.

/** A triangle soup: 9 coordinates (3 vertices x, y, z) per triangle, in millimetres. */
export interface Mesh {
  readonly triangles: number;
  readonly positions: Float64Array;
}

export interface RingOptions {
  /** Target triangle count; the ring gets about this many (at least 18). Required. */
  triangles: number;
  /** Inside diameter of the ring in mm. Default: 17.3 (ring size 17, EU 54). */
  innerDiameterMm?: number;
  /** Radius of the band's round cross-section in mm. Default: 1.2. */
  bandRadiusMm?: number;
}

export interface CubeOptions {
  /** Edge length in mm. Default: 10. */
  sizeMm?: number;
  /** Grid cells per face edge; each face gets 2 * n^2 triangles. Default: 1. */
  subdivisions?: number;
}

const RING_DEFAULTS = { innerDiameterMm: 17.3, bandRadiusMm: 1.2 } as const;
const MAX_GENERATED_TRIANGLES = 20_000_000;

/**
 * A closed torus ring (outward-facing triangles), as a triangle soup. The band goes round
 * the z axis; `majorSegments * minorSegments * 2` triangles, split about 4:1.
 */
export function generateRingMesh(opts: RingOptions): Mesh {
  const target = opts.triangles;
  if (!Number.isFinite(target) || target < 1 || target > MAX_GENERATED_TRIANGLES) {
    throw new RangeError(
      `generateRingMesh: triangles must be a number between 1 and ${MAX_GENERATED_TRIANGLES}, got ${String(target)}`,
    );
  }
  const tube = opts.bandRadiusMm ?? RING_DEFAULTS.bandRadiusMm;
  const inner = opts.innerDiameterMm ?? RING_DEFAULTS.innerDiameterMm;
  if (!(tube > 0) || !(inner > 0)) {
    throw new RangeError('generateRingMesh: innerDiameterMm and bandRadiusMm must be > 0');
  }
  const major = inner / 2 + tube;
  const minorSegments = Math.max(3, Math.round(Math.sqrt(target / 8)));
  const majorSegments = Math.max(3, Math.round(target / (2 * minorSegments)));

  const point = (i: number, j: number): [number, number, number] => {
    const u = (2 * Math.PI * (i % majorSegments)) / majorSegments;
    const v = (2 * Math.PI * (j % minorSegments)) / minorSegments;
    const radial = major + tube * Math.cos(v);
    return [radial * Math.cos(u), radial * Math.sin(u), tube * Math.sin(v)];
  };

  const triangles = 2 * majorSegments * minorSegments;
  const positions = new Float64Array(triangles * 9);
  let offset = 0;
  const put = (p: [number, number, number]): void => {
    positions[offset++] = p[0];
    positions[offset++] = p[1];
    positions[offset++] = p[2];
  };
  for (let i = 0; i < majorSegments; i++) {
    for (let j = 0; j < minorSegments; j++) {
      const a = point(i, j);
      const b = point(i + 1, j);
      const c = point(i + 1, j + 1);
      const d = point(i, j + 1);
      // (du x dv) points away from the tube's centre line, so this winding faces outward.
      put(a);
      put(b);
      put(c);
      put(a);
      put(c);
      put(d);
    }
  }
  return { triangles, positions };
}

/** Binary STL of a closed ring with about `triangles` triangles (see {@link generateRingMesh}). */
export function generateRingStl(opts: RingOptions): Buffer {
  return encodeBinaryStl(generateRingMesh(opts), 'meskit reference-mes generated ring');
}

/** An axis-aligned cube from the origin, outward-facing: volume size^3, area 6 * size^2. */
export function generateCubeMesh(opts: CubeOptions = {}): Mesh {
  const size = opts.sizeMm ?? 10;
  const n = opts.subdivisions ?? 1;
  if (!(size > 0) || !Number.isInteger(n) || n < 1 || n > 1000) {
    throw new RangeError(
      'generateCubeMesh: sizeMm must be > 0 and subdivisions an integer in 1..1000',
    );
  }
  const triangles = 6 * 2 * n * n;
  const positions = new Float64Array(triangles * 9);
  let offset = 0;
  // Each face: an origin corner and two edge vectors whose cross product points outward.
  const faces: Array<[number[], number[], number[]]> = [
    [
      [0, 0, 0],
      [0, size, 0],
      [size, 0, 0],
    ], // z = 0, normal -z
    [
      [0, 0, size],
      [size, 0, 0],
      [0, size, 0],
    ], // z = size, normal +z
    [
      [0, 0, 0],
      [size, 0, 0],
      [0, 0, size],
    ], // y = 0, normal -y
    [
      [0, size, 0],
      [0, 0, size],
      [size, 0, 0],
    ], // y = size, normal +y
    [
      [0, 0, 0],
      [0, 0, size],
      [0, size, 0],
    ], // x = 0, normal -x
    [
      [size, 0, 0],
      [0, size, 0],
      [0, 0, size],
    ], // x = size, normal +x
  ];
  for (const [origin, du, dv] of faces) {
    const at = (i: number, j: number): number[] =>
      [0, 1, 2].map((k) => origin[k]! + (du[k]! * i) / n + (dv[k]! * j) / n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        for (const p of [
          at(i, j),
          at(i + 1, j),
          at(i + 1, j + 1),
          at(i, j),
          at(i + 1, j + 1),
          at(i, j + 1),
        ]) {
          positions[offset++] = p[0]!;
          positions[offset++] = p[1]!;
          positions[offset++] = p[2]!;
        }
      }
    }
  }
  return { triangles, positions };
}

/** Binary STL of {@link generateCubeMesh}. */
export function generateCubeStl(opts: CubeOptions = {}): Buffer {
  return encodeBinaryStl(generateCubeMesh(opts), 'meskit reference-mes generated cube');
}

/** Binary STL: 80-byte header, uint32 count, then 50 bytes per triangle (little endian). */
export function encodeBinaryStl(mesh: Mesh, header = 'meskit reference-mes'): Buffer {
  const out = Buffer.alloc(84 + 50 * mesh.triangles);
  out.write(header.slice(0, 80), 0, 'latin1');
  out.writeUInt32LE(mesh.triangles, 80);
  const p = mesh.positions;
  for (let t = 0; t < mesh.triangles; t++) {
    const base = 84 + 50 * t;
    const [nx, ny, nz] = unitNormal(p, t * 9);
    out.writeFloatLE(nx, base);
    out.writeFloatLE(ny, base + 4);
    out.writeFloatLE(nz, base + 8);
    for (let k = 0; k < 9; k++) out.writeFloatLE(p[t * 9 + k]!, base + 12 + 4 * k);
    // Bytes 48-49: the "attribute byte count", zero in every exporter the shop sees.
  }
  return out;
}

/** ASCII STL (`solid ... endsolid`). */
export function encodeAsciiStl(mesh: Mesh, name = 'model'): Buffer {
  const p = mesh.positions;
  const lines = [`solid ${name}`];
  for (let t = 0; t < mesh.triangles; t++) {
    const [nx, ny, nz] = unitNormal(p, t * 9);
    lines.push(`  facet normal ${nx} ${ny} ${nz}`, '    outer loop');
    for (let v = 0; v < 3; v++) {
      const o = t * 9 + v * 3;
      lines.push(`      vertex ${p[o]} ${p[o + 1]} ${p[o + 2]}`);
    }
    lines.push('    endloop', '  endfacet');
  }
  lines.push(`endsolid ${name}`, '');
  return Buffer.from(lines.join('\n'), 'latin1');
}

/** Wavefront OBJ with one `v` line per corner and one triangular `f` per triangle. */
export function encodeObj(mesh: Mesh): Buffer {
  const p = mesh.positions;
  const lines = ['# meskit reference-mes'];
  for (let i = 0; i < mesh.triangles * 3; i++) {
    lines.push(`v ${p[i * 3]} ${p[i * 3 + 1]} ${p[i * 3 + 2]}`);
  }
  for (let t = 0; t < mesh.triangles; t++) {
    lines.push(`f ${t * 3 + 1} ${t * 3 + 2} ${t * 3 + 3}`);
  }
  lines.push('');
  return Buffer.from(lines.join('\n'), 'latin1');
}

/** The unit normal of the triangle whose 9 coordinates start at `o`; zero when degenerate. */
export function unitNormal(p: Float64Array, o: number): [number, number, number] {
  const ux = p[o + 3]! - p[o]!;
  const uy = p[o + 4]! - p[o + 1]!;
  const uz = p[o + 5]! - p[o + 2]!;
  const vx = p[o + 6]! - p[o]!;
  const vy = p[o + 7]! - p[o + 1]!;
  const vz = p[o + 8]! - p[o + 2]!;
  const nx = uy * vz - uz * vy;
  const ny = uz * vx - ux * vz;
  const nz = ux * vy - uy * vx;
  const len = Math.hypot(nx, ny, nz);
  return len > 0 ? [nx / len, ny / len, nz / len] : [0, 0, 0];
}
