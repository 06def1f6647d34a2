// Volume, area, bounding box and zero-area faces in one float64 pass.
//
// Volume is the sum of signed tetrahedra spanned by each face and a reference point. The
// reference is the mesh's first vertex rather than the origin: for a closed mesh the sum is
// the same, but a model placed far from the origin (common in CAD exports) would otherwise
// lose digits to cancellation between huge tetrahedra of opposite sign.

import { MeshError } from '../errors.js';
import { scratchInt32 } from './scratch.js';
import { finishWeld, grownInt32, mix3, RECENT_SHIFT, RECENT_SIZE } from './weld.js';

export interface Geometry {
  volume: number;
  area: number;
  min: [number, number, number];
  max: [number, number, number];
  /** Faces whose area is exactly zero (coincident or collinear corners). */
  zeroAreaFaces: number;
}

export interface SoupResult {
  geometry: Geometry;
  /** Welded vertex ids, 3 per triangle, when welding was asked for. */
  tri: Int32Array | null;
  vertexCount: number;
}

const STL_HEADER = 84;
const STL_RECORD = 50;

/**
 * Binary STL records start at byte 84 and are 50 bytes long: normal (ignored: many
 * exporters write zeros, and the winding is what defines orientation), three vertices,
 * two attribute bytes. Reads go through a DataView because records are only 2-byte aligned.
 */
export function binaryStlPass(bytes: Uint8Array, triangles: number, weld: boolean): SoupResult {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (triangles === 0)
    return { geometry: emptyGeometry(), tri: weld ? new Int32Array(0) : null, vertexCount: 0 };

  const rx = dv.getFloat32(STL_HEADER + 12, true);
  const ry = dv.getFloat32(STL_HEADER + 16, true);
  const rz = dv.getFloat32(STL_HEADER + 20, true);
  let volume6 = 0;
  let area2 = 0;
  let minX = Infinity;
  let minY = Infinity;
  let minZ = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  let maxZ = -Infinity;
  let zeroAreaFaces = 0;

  let o = STL_HEADER + 12;
  for (let t = 0; t < triangles; t++, o += STL_RECORD) {
    const x0 = dv.getFloat32(o, true);
    const y0 = dv.getFloat32(o + 4, true);
    const z0 = dv.getFloat32(o + 8, true);
    const x1 = dv.getFloat32(o + 12, true);
    const y1 = dv.getFloat32(o + 16, true);
    const z1 = dv.getFloat32(o + 20, true);
    const x2 = dv.getFloat32(o + 24, true);
    const y2 = dv.getFloat32(o + 28, true);
    const z2 = dv.getFloat32(o + 32, true);

    const ax = x0 - rx;
    const ay = y0 - ry;
    const az = z0 - rz;
    const bx = x1 - rx;
    const by = y1 - ry;
    const bz = z1 - rz;
    const cx = x2 - rx;
    const cy = y2 - ry;
    const cz = z2 - rz;
    volume6 += ax * (by * cz - bz * cy) + ay * (bz * cx - bx * cz) + az * (bx * cy - by * cx);

    const ux = x1 - x0;
    const uy = y1 - y0;
    const uz = z1 - z0;
    const vx = x2 - x0;
    const vy = y2 - y0;
    const vz = z2 - z0;
    const nx = uy * vz - uz * vy;
    const ny = uz * vx - ux * vz;
    const nz = ux * vy - uy * vx;
    const n2 = nx * nx + ny * ny + nz * nz;
    area2 += Math.sqrt(n2);
    zeroAreaFaces += n2 === 0 ? 1 : 0;

    // Per-face extremes with conditional moves, then six predictable branches, instead of
    // eighteen compares against the running box.
    const loX = x0 < x1 ? (x0 < x2 ? x0 : x2) : x1 < x2 ? x1 : x2;
    const hiX = x0 > x1 ? (x0 > x2 ? x0 : x2) : x1 > x2 ? x1 : x2;
    const loY = y0 < y1 ? (y0 < y2 ? y0 : y2) : y1 < y2 ? y1 : y2;
    const hiY = y0 > y1 ? (y0 > y2 ? y0 : y2) : y1 > y2 ? y1 : y2;
    const loZ = z0 < z1 ? (z0 < z2 ? z0 : z2) : z1 < z2 ? z1 : z2;
    const hiZ = z0 > z1 ? (z0 > z2 ? z0 : z2) : z1 > z2 ? z1 : z2;
    if (loX < minX) minX = loX;
    if (hiX > maxX) maxX = hiX;
    if (loY < minY) minY = loY;
    if (hiY > maxY) maxY = hiY;
    if (loZ < minZ) minZ = loZ;
    if (hiZ > maxZ) maxZ = hiZ;
  }

  // No per-coordinate test in the loop: every coordinate enters a product of the volume
  // sum, so a NaN or infinite one leaves the sum NaN or infinite for good, while finite
  // float32 input cannot overflow float64 (|x|^3 < 1e116). The bad face is located after.
  if (!Number.isFinite(volume6) || !Number.isFinite(area2)) throw nonFiniteAt(dv, triangles);
  let tri: Int32Array | null = null;
  let vertexCount = 0;
  if (weld) {
    tri = scratchInt32('tri', triangles * 3);
    vertexCount = weldBinaryStl(dv, triangles, tri);
  }
  return {
    geometry: {
      volume: volume6 / 6,
      area: area2 / 2,
      min: [minX, minY, minZ],
      max: [maxX, maxY, maxZ],
      zeroAreaFaces,
    },
    tri,
    vertexCount,
  };
}

function nonFiniteAt(dv: DataView, triangles: number): MeshError {
  for (let t = 0; t < triangles; t++) {
    for (let c = 0; c < 9; c++) {
      const v = dv.getFloat32(STL_HEADER + STL_RECORD * t + 12 + 4 * c, true);
      if (!Number.isFinite(v)) {
        return new MeshError(
          'NON_FINITE',
          `binary STL triangle ${t} (0-based) has a ${Number.isNaN(v) ? 'NaN' : 'infinite'} coordinate`,
        );
      }
    }
  }
  return new MeshError('NON_FINITE', 'binary STL has a NaN or infinite coordinate');
}

/** Geometry of an indexed mesh whose positions are already known to be finite. */
export function indexedGeometry(
  positions: Float64Array,
  indices: Uint32Array,
  triangles: number,
): Geometry {
  if (triangles === 0) return emptyGeometry();
  const r = indices[0]! * 3;
  const rx = positions[r]!;
  const ry = positions[r + 1]!;
  const rz = positions[r + 2]!;
  let volume6 = 0;
  let area2 = 0;
  let zeroAreaFaces = 0;
  let minX = Infinity;
  let minY = Infinity;
  let minZ = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  let maxZ = -Infinity;
  for (let t = 0; t < triangles; t++) {
    const i0 = indices[3 * t]! * 3;
    const i1 = indices[3 * t + 1]! * 3;
    const i2 = indices[3 * t + 2]! * 3;
    const x0 = positions[i0]!;
    const y0 = positions[i0 + 1]!;
    const z0 = positions[i0 + 2]!;
    const x1 = positions[i1]!;
    const y1 = positions[i1 + 1]!;
    const z1 = positions[i1 + 2]!;
    const x2 = positions[i2]!;
    const y2 = positions[i2 + 1]!;
    const z2 = positions[i2 + 2]!;
    const ax = x0 - rx;
    const ay = y0 - ry;
    const az = z0 - rz;
    const bx = x1 - rx;
    const by = y1 - ry;
    const bz = z1 - rz;
    const cx = x2 - rx;
    const cy = y2 - ry;
    const cz = z2 - rz;
    volume6 += ax * (by * cz - bz * cy) + ay * (bz * cx - bx * cz) + az * (bx * cy - by * cx);
    const ux = x1 - x0;
    const uy = y1 - y0;
    const uz = z1 - z0;
    const vx = x2 - x0;
    const vy = y2 - y0;
    const vz = z2 - z0;
    const nx = uy * vz - uz * vy;
    const ny = uz * vx - ux * vz;
    const nz = ux * vy - uy * vx;
    const n2 = nx * nx + ny * ny + nz * nz;
    area2 += Math.sqrt(n2);
    zeroAreaFaces += n2 === 0 ? 1 : 0;
    // Per-face extremes with conditional moves, then six predictable branches, instead of
    // eighteen compares against the running box.
    const loX = x0 < x1 ? (x0 < x2 ? x0 : x2) : x1 < x2 ? x1 : x2;
    const hiX = x0 > x1 ? (x0 > x2 ? x0 : x2) : x1 > x2 ? x1 : x2;
    const loY = y0 < y1 ? (y0 < y2 ? y0 : y2) : y1 < y2 ? y1 : y2;
    const hiY = y0 > y1 ? (y0 > y2 ? y0 : y2) : y1 > y2 ? y1 : y2;
    const loZ = z0 < z1 ? (z0 < z2 ? z0 : z2) : z1 < z2 ? z1 : z2;
    const hiZ = z0 > z1 ? (z0 > z2 ? z0 : z2) : z1 > z2 ? z1 : z2;
    if (loX < minX) minX = loX;
    if (hiX > maxX) maxX = hiX;
    if (loY < minY) minY = loY;
    if (hiY > maxY) maxY = hiY;
    if (loZ < minZ) minZ = loZ;
    if (hiZ > maxZ) maxZ = hiZ;
  }
  return {
    volume: volume6 / 6,
    area: area2 / 2,
    min: [minX, minY, minZ],
    max: [maxX, maxY, maxZ],
    zeroAreaFaces,
  };
}

function emptyGeometry(): Geometry {
  return { volume: 0, area: 0, min: [0, 0, 0], max: [0, 0, 0], zeroAreaFaces: 0 };
}

/**
 * Gives every corner of the binary STL an exact vertex id (float bits compared, -0 = +0),
 * in first-seen order, and returns the number of distinct positions. A separate pass from
 * the geometry so each loop stays small enough for the JIT to keep everything in registers;
 * the second read of the buffer is sequential and cheap next to the work per corner.
 */
function weldBinaryStl(dv: DataView, triangles: number, tri: Int32Array): number {
  // A closed mesh has about half as many vertices as faces; the arrays grow if not.
  const capacity = (triangles >>> 1) + (triangles >>> 4) + 1024;
  let keys: Int32Array = scratchInt32('weld.keys', capacity * 3);
  let hashes: Int32Array = scratchInt32('weld.hashes', capacity);
  const recent = scratchInt32('weld.recent', 2 * RECENT_SIZE).fill(-1);
  let count = 0;
  let o = STL_HEADER + 12;
  for (let t = 0; t < triangles; t++, o += STL_RECORD) {
    // Exact weld on the raw float bits, inlined (see weld.ts for the scheme). Neighbouring
    // faces in a file usually share an edge, so first compare with the previous face's
    // corners (no hashing at all), then the recent-vertex cache, else a provisional id.
    for (let k = 0; k < 3; k++) {
      const at = o + 12 * k;
      let x = dv.getInt32(at, true);
      let y = dv.getInt32(at + 4, true);
      let z = dv.getInt32(at + 8, true);
      // -0 (0x80000000) is the same position as +0.
      if (x === -2147483648) x = 0;
      if (y === -2147483648) y = 0;
      if (z === -2147483648) z = 0;
      if (t > 0) {
        const p0 = tri[3 * t - 3]!;
        const p1 = tri[3 * t - 2]!;
        const p2 = tri[3 * t - 1]!;
        let shared = -1;
        if (keys[3 * p0] === x && keys[3 * p0 + 1] === y && keys[3 * p0 + 2] === z) shared = p0;
        else if (keys[3 * p1] === x && keys[3 * p1 + 1] === y && keys[3 * p1 + 2] === z)
          shared = p1;
        else if (keys[3 * p2] === x && keys[3 * p2 + 1] === y && keys[3 * p2 + 2] === z)
          shared = p2;
        if (shared >= 0) {
          tri[3 * t + k] = shared;
          continue;
        }
      }
      const hash = mix3(x, y, z);
      // The cache holds (hash, id) pairs side by side: a slot that belongs to another
      // vertex is rejected on the hash without reading that vertex's key, which would be a
      // cache miss for every new vertex.
      const slot = (hash >>> RECENT_SHIFT) << 1;
      let id = recent[slot + 1]!;
      if (
        recent[slot] !== hash ||
        id < 0 ||
        keys[3 * id] !== x ||
        keys[3 * id + 1] !== y ||
        keys[3 * id + 2] !== z
      ) {
        id = count++;
        if (id === hashes.length) {
          keys = grownInt32(keys);
          hashes = grownInt32(hashes);
        }
        keys[3 * id] = x;
        keys[3 * id + 1] = y;
        keys[3 * id + 2] = z;
        hashes[id] = hash;
        recent[slot] = hash;
        recent[slot + 1] = id;
      }
      tri[3 * t + k] = id;
    }
  }
  return finishWeld(keys, hashes, count, tri);
}
