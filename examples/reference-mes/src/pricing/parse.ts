// Model parsing for the legacy pricing: binary STL, ASCII STL and Wavefront OBJ, detected from
// the bytes (file names lie: shops upload binary STLs whose header starts with "solid").
import { MesError } from '../errors.js';
import type { Mesh } from '../models.js';

/** The formats {@link parseModel} accepts. */
export type ModelFormat = 'stl-binary' | 'stl-ascii' | 'obj';

export interface ParsedModel extends Mesh {
  readonly format: ModelFormat;
}

const BINARY_HEADER_BYTES = 84;
const BINARY_TRIANGLE_BYTES = 50;
/** How much of the start is inspected to decide whether the bytes are text. */
const SNIFF_BYTES = 1024;

/**
 * Parses a model into a triangle soup. Throws {@link MesError} `INVALID_MODEL` with a message
 * saying what is wrong (empty, truncated, no facets, not a model, bad numbers).
 */
export function parseModel(data: Buffer | Uint8Array): ParsedModel {
  const buf = Buffer.isBuffer(data)
    ? data
    : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (buf.length === 0) throw invalid('the model file is empty');

  const declared = buf.length >= BINARY_HEADER_BYTES ? buf.readUInt32LE(80) : -1;
  if (declared >= 0 && BINARY_HEADER_BYTES + BINARY_TRIANGLE_BYTES * declared === buf.length) {
    if (declared === 0) throw invalid('the binary STL declares no facets');
    return checked(parseBinaryStl(buf, declared), 'stl-binary');
  }

  if (looksLikeText(buf)) {
    const text = buf.toString('latin1');
    const start = text.trimStart();
    if (/^solid\b/i.test(start)) return checked(parseAsciiStl(text), 'stl-ascii');
    if (/^\s*v\s/m.test(text)) return checked(parseObj(text), 'obj');
    throw invalid('not a recognised 3D model: expected binary STL, ASCII STL or OBJ');
  }

  if (buf.length < BINARY_HEADER_BYTES) {
    throw invalid(
      `not a recognised 3D model: ${buf.length} bytes is shorter than a binary STL header (84 bytes)`,
    );
  }
  const expected = BINARY_HEADER_BYTES + BINARY_TRIANGLE_BYTES * declared;
  if (buf.length < expected) {
    throw invalid(
      `truncated binary STL: the header declares ${declared} triangles (${expected} bytes) but the file has ${buf.length} bytes`,
    );
  }
  throw invalid(
    `malformed binary STL: the header declares ${declared} triangles (${expected} bytes) but the file has ${buf.length} bytes`,
  );
}

function parseBinaryStl(buf: Buffer, triangles: number): Float64Array {
  const positions = new Float64Array(triangles * 9);
  for (let t = 0; t < triangles; t++) {
    // Skip the stored normal (12 bytes): exporters often leave it zero, so it is recomputed.
    const base = BINARY_HEADER_BYTES + BINARY_TRIANGLE_BYTES * t + 12;
    for (let k = 0; k < 9; k++) positions[t * 9 + k] = buf.readFloatLE(base + 4 * k);
  }
  return positions;
}

function parseAsciiStl(text: string): Float64Array {
  const coords: number[] = [];
  const lines = text.split(/\r?\n/);
  let facets = 0;
  let inFacet = false;
  let loopVertices = 0;
  let ended = false;
  for (let i = 0; i < lines.length && !ended; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    const [keyword = ''] = line.split(/\s+/, 1);
    switch (keyword.toLowerCase()) {
      case 'solid':
        if (i > 0 && coords.length > 0) throw invalid(`ASCII STL line ${i + 1}: a second "solid"`);
        break;
      case 'facet':
        if (inFacet) throw invalid(`ASCII STL line ${i + 1}: "facet" before "endfacet"`);
        inFacet = true;
        loopVertices = 0;
        break;
      case 'outer':
      case 'endloop':
        break;
      case 'vertex': {
        if (!inFacet) throw invalid(`ASCII STL line ${i + 1}: "vertex" outside a facet`);
        const xyz = line.split(/\s+/).slice(1).map(Number);
        if (xyz.length !== 3 || !xyz.every(Number.isFinite)) {
          throw invalid(`ASCII STL line ${i + 1}: a vertex needs three numbers`);
        }
        coords.push(xyz[0]!, xyz[1]!, xyz[2]!);
        loopVertices++;
        break;
      }
      case 'endfacet':
        if (!inFacet) throw invalid(`ASCII STL line ${i + 1}: "endfacet" without "facet"`);
        if (loopVertices !== 3) {
          throw invalid(
            `ASCII STL facet ${facets + 1} has ${loopVertices} vertices; only triangles are allowed`,
          );
        }
        inFacet = false;
        facets++;
        break;
      case 'endsolid':
        ended = true;
        break;
      default:
        throw invalid(`ASCII STL line ${i + 1}: unexpected "${line.slice(0, 40)}"`);
    }
  }
  if (inFacet) throw invalid(`truncated ASCII STL: facet ${facets + 1} is not closed`);
  if (facets === 0) throw invalid('the ASCII STL has no facets');
  return Float64Array.from(coords);
}

function parseObj(text: string): Float64Array {
  const vertices: number[] = [];
  const coords: number[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const parts = lines[i]!.trim().split(/\s+/);
    const keyword = parts[0];
    if (keyword === 'v') {
      const xyz = parts.slice(1, 4).map(Number);
      if (xyz.length !== 3 || !xyz.every(Number.isFinite)) {
        throw invalid(`OBJ line ${i + 1}: a vertex needs three numbers`);
      }
      vertices.push(xyz[0]!, xyz[1]!, xyz[2]!);
    } else if (keyword === 'f') {
      const count = vertices.length / 3;
      const corners = parts.slice(1).map((token) => {
        const index = Number.parseInt(token.split('/', 1)[0] ?? '', 10);
        // OBJ indices are 1-based; negative ones count back from the latest vertex.
        const resolved = index > 0 ? index - 1 : count + index;
        if (!Number.isInteger(index) || index === 0 || resolved < 0 || resolved >= count) {
          throw invalid(`OBJ line ${i + 1}: face refers to vertex "${token}" which does not exist`);
        }
        return resolved;
      });
      if (corners.length < 3) throw invalid(`OBJ line ${i + 1}: a face needs at least 3 vertices`);
      // Fan triangulation: fine for the convex polygons CAD exporters write.
      for (let k = 1; k + 1 < corners.length; k++) {
        for (const c of [corners[0]!, corners[k]!, corners[k + 1]!]) {
          coords.push(vertices[c * 3]!, vertices[c * 3 + 1]!, vertices[c * 3 + 2]!);
        }
      }
    }
    // Normals, texture coordinates, groups, materials and comments do not affect the price.
  }
  if (coords.length === 0) throw invalid('the OBJ has no faces');
  return Float64Array.from(coords);
}

function checked(positions: Float64Array, format: ModelFormat): ParsedModel {
  for (let i = 0; i < positions.length; i++) {
    if (!Number.isFinite(positions[i]!)) {
      throw invalid(
        `triangle ${Math.floor(i / 9) + 1} has a coordinate that is not a finite number`,
      );
    }
  }
  return { format, triangles: positions.length / 9, positions };
}

/** Text models are printable ASCII/Latin-1 with line breaks; binary STL bodies are not. */
function looksLikeText(buf: Buffer): boolean {
  const end = Math.min(buf.length, SNIFF_BYTES);
  let control = 0;
  for (let i = 0; i < end; i++) {
    const b = buf[i]!;
    if (b === 0) return false;
    if (b < 9 || (b > 13 && b < 32)) control++;
  }
  return control <= end * 0.01;
}

function invalid(message: string): MesError {
  return new MesError('INVALID_MODEL', `invalid model: ${message}`);
}
