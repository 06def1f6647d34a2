// Wavefront OBJ: `v x y z [w]` lines give positions, `f` lines give polygons as vertex
// references in any of the forms `v`, `v/vt`, `v//vn`, `v/vt/vn`; a negative reference counts
// back from the last vertex defined so far. Polygons are fan-triangulated (exporters write
// planar convex polygons). Texture coordinates, normals, groups and materials do not change
// volume or area and are skipped.

import { MeshError } from '../errors.js';
import { Float64Builder, Uint32Builder, type IndexedMesh } from './builders.js';
import { isSpace, parseNumber, latin1, clip } from './text.js';

export function parseObj(bytes: Uint8Array, maxTriangles: number): IndexedMesh {
  const positions = new Float64Builder();
  const indices = new Uint32Builder();
  const warnings: string[] = [];
  const n = bytes.length;
  let vertexCount = 0;
  let line = 0;
  let maxForward = -1;
  let maxForwardLine = 0;
  const polygon: number[] = [];

  let p = 0;
  while (p < n) {
    line++;
    let eol = p;
    while (eol < n && bytes[eol] !== 0x0a) eol++;
    let q = p;
    while (q < eol && isSpace(bytes[q]!)) q++;
    const c0 = bytes[q];
    const c1 = q + 1 < eol ? bytes[q + 1]! : 0x20;
    if (c0 === 0x76 /* v */ && isSpace(c1)) {
      q += 1;
      const xyz = [0, 0, 0];
      for (let axis = 0; axis < 3; axis++) {
        while (q < eol && isSpace(bytes[q]!)) q++;
        const s = q;
        while (q < eol && !isSpace(bytes[q]!)) q++;
        if (s === q) {
          throw new MeshError('BAD_OBJ', `OBJ line ${line}: a "v" line needs 3 coordinates`);
        }
        xyz[axis] = parseNumber(bytes, s, q, `OBJ vertex coordinate`, 'BAD_OBJ');
      }
      positions.push3(xyz[0]!, xyz[1]!, xyz[2]!);
      vertexCount++;
    } else if (c0 === 0x66 /* f */ && isSpace(c1)) {
      q += 1;
      polygon.length = 0;
      while (q < eol) {
        while (q < eol && isSpace(bytes[q]!)) q++;
        if (q >= eol) break;
        const s = q;
        let sign = 1;
        if (bytes[q] === 0x2d) {
          sign = -1;
          q++;
        } else if (bytes[q] === 0x2b) q++;
        let value = 0;
        let digits = 0;
        while (q < eol && bytes[q]! >= 0x30 && bytes[q]! <= 0x39) {
          value = value * 10 + (bytes[q]! - 0x30);
          digits++;
          q++;
        }
        const tokenEnd = skipToken(bytes, q, eol);
        if (digits === 0 || (q < eol && bytes[q] !== 0x2f && !isSpace(bytes[q]!))) {
          throw new MeshError(
            'BAD_OBJ',
            `OBJ line ${line}: face vertex "${clip(latin1(bytes, s, tokenEnd))}" is not an index`,
          );
        }
        q = tokenEnd;
        if (value === 0 || digits > 10 || value > 0x7fffffff) {
          throw new MeshError(
            'BAD_OBJ_INDEX',
            `OBJ line ${line}: face vertex index ${sign * value} is invalid (indices start at 1)`,
          );
        }
        let index: number;
        if (sign < 0) {
          index = vertexCount - value;
          if (index < 0) {
            throw new MeshError(
              'BAD_OBJ_INDEX',
              `OBJ line ${line}: relative index -${value} points before the first vertex (${vertexCount} defined so far)`,
            );
          }
        } else {
          index = value - 1;
          // Forward references are legal in practice; checked against the final count.
          if (index >= vertexCount && index > maxForward) {
            maxForward = index;
            maxForwardLine = line;
          }
        }
        polygon.push(index);
      }
      if (polygon.length < 3) {
        throw new MeshError(
          'BAD_OBJ',
          `OBJ line ${line}: a face needs at least 3 vertices, found ${polygon.length}`,
        );
      }
      const first = polygon[0]!;
      for (let k = 1; k + 1 < polygon.length; k++)
        indices.push3(first, polygon[k]!, polygon[k + 1]!);
      if (indices.length / 3 > maxTriangles) {
        throw new MeshError(
          'TOO_LARGE',
          `OBJ has more than maxTriangles (${maxTriangles}) triangles`,
        );
      }
    }
    p = eol + 1;
  }
  if (maxForward >= vertexCount) {
    throw new MeshError(
      'BAD_OBJ_INDEX',
      `OBJ line ${maxForwardLine}: face vertex index ${maxForward + 1} exceeds the ${vertexCount} vertices in the file`,
    );
  }
  return { positions: positions.view(), indices: indices.view(), warnings };
}

function skipToken(bytes: Uint8Array, q: number, eol: number): number {
  while (q < eol && !isSpace(bytes[q]!)) q++;
  return q;
}
