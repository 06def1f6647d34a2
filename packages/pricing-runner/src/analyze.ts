import { optionChecks } from '@meskit/kernel';
import { MeshError } from './errors.js';
import { positiveNumber } from './internal/checks.js';
import type { IndexedMesh } from './internal/builders.js';
import { detectFormat, STL_HEADER, STL_RECORD } from './internal/detect-format.js';
import { binaryStlPass, indexedGeometry, type Geometry } from './internal/geometry.js';
import { parseObj } from './internal/obj.js';
import { parseAsciiStl } from './internal/stl-ascii.js';
import { parse3mf } from './internal/threemf.js';
import { analyzeTopology, type Topology } from './internal/topology.js';
import { weldPositions } from './internal/weld.js';

export type MeshFormat = 'stl-binary' | 'stl-ascii' | 'obj' | '3mf';

const MESH_FORMATS: readonly MeshFormat[] = ['stl-binary', 'stl-ascii', 'obj', '3mf'];

export interface AnalyzeOptions {
  /** Force a format instead of detecting it. Default: detect from the bytes. */
  format?: MeshFormat;
  /** Inputs larger than this are refused with `TOO_LARGE`. Default: 512 MiB. */
  maxBytes?: number;
  /** Models with more triangles are refused with `TOO_LARGE`. Default: 10,000,000. */
  maxTriangles?: number;
  /** A 3MF part may inflate to at most this many bytes (`ZIP_BOMB` beyond). Default: 256 MiB. */
  maxDecompressedBytes?: number;
  /** A 3MF part over 1 MiB may inflate at most this many times its compressed size. Default: 100. */
  maxCompressionRatio?: number;
  /**
   * Weld vertices and check edges and shells. `false` runs the geometry pass only
   * (volume, area, box) and reports `watertight`, `shells` and `vertices` as null. Default: true.
   */
  topology?: boolean;
}

export const DEFAULTS = {
  maxBytes: 512 * 1024 * 1024,
  maxTriangles: 10_000_000,
  maxDecompressedBytes: 256 * 1024 * 1024,
  maxCompressionRatio: 100,
  topology: true,
} as const;

export interface BoundingBox {
  min: [number, number, number];
  max: [number, number, number];
  size: [number, number, number];
}

export interface MeshAnalysis {
  format: MeshFormat;
  triangles: number;
  /** Distinct vertex positions used by faces; null when `topology: false`. */
  vertices: number | null;
  /** Enclosed volume in mm³ (signed: negative when the surface is inside out). */
  volume: number;
  /** Surface area in mm². */
  area: number;
  /** Axis-aligned bounds in mm. */
  bbox: BoundingBox;
  /** Connected parts (faces connected through shared vertices); null when `topology: false`. */
  shells: number | null;
  /** Every edge is shared by exactly two faces with opposite directions; null when `topology: false`. */
  watertight: boolean | null;
  /** Edge defects found; all zero on a watertight mesh; null when `topology: false`. */
  edges: {
    total: number;
    boundary: number;
    misoriented: number;
    nonManifold: number;
  } | null;
  /** Faces of exactly zero area (including faces with two corners at one position). */
  degenerateFaces: number;
  confidence: {
    /** Whether `volume` is the volume of a solid: closed, consistently and outward oriented. */
    volumeTrusted: boolean;
    /** Why the volume is not trusted, or what else deserves a look; each starts with a stable code. */
    reasons: string[];
  };
  /** Things tolerated while reading (trailing bytes, recovered counts, skipped objects). */
  warnings: string[];
}

/** AnalyzeOptions with every default applied (what the pool hands its workers). */
export interface NormalizedAnalyzeOptions {
  format: MeshFormat | undefined;
  maxBytes: number;
  maxTriangles: number;
  maxDecompressedBytes: number;
  maxCompressionRatio: number;
  topology: boolean;
}

/**
 * Applies defaults and checks every option, throwing the kernel's `InvalidOptionError`
 * (`INVALID_OPTION`) that names it. The pool passes its own name and `analyze`, so an error
 * names the option as the caller wrote it (`createPricingPool: option analyze.maxBytes ...`).
 */
export function normalizeAnalyzeOptions(
  opts: AnalyzeOptions | undefined,
  component = 'analyzeMesh',
  parent?: string,
): NormalizedAnalyzeOptions {
  const check = optionChecks(component);
  const name = (option: string): string => (parent ? `${parent}.${option}` : option);
  // null is accepted as "no options", as it always was.
  const o =
    opts === undefined || opts === null
      ? {}
      : (check.object(parent ?? 'options', opts, '{ maxBytes: 67108864 }') as AnalyzeOptions);
  const limit = (option: keyof typeof DEFAULTS & keyof AnalyzeOptions): number =>
    o[option] === undefined
      ? (DEFAULTS[option] as number)
      : positiveNumber(check, name(option), o[option]);
  return {
    format:
      o.format === undefined
        ? undefined
        : check.oneOf<MeshFormat>(name('format'), o.format, MESH_FORMATS),
    maxBytes: limit('maxBytes'),
    maxTriangles: limit('maxTriangles'),
    maxDecompressedBytes: limit('maxDecompressedBytes'),
    maxCompressionRatio: limit('maxCompressionRatio'),
    topology:
      o.topology === undefined ? DEFAULTS.topology : check.boolean(name('topology'), o.topology),
  };
}

/**
 * Analyses a binary STL, ASCII STL, OBJ or 3MF model held in memory. Pure and synchronous:
 * the same bytes and options always give the same result, so results can be cached by
 * content hash. Throws `MeshError` (with a stable `code`) for input it cannot analyse, the
 * kernel's `InvalidOptionError` for a bad option and `TypeError` when `input` is not bytes.
 */
export function analyzeMesh(input: Uint8Array, opts?: AnalyzeOptions): MeshAnalysis {
  if (!(input instanceof Uint8Array))
    throw new TypeError('analyzeMesh: input must be a Uint8Array or Buffer holding the model file');
  const o = normalizeAnalyzeOptions(opts);
  if (input.length === 0) throw new MeshError('EMPTY', 'the model file is empty (0 bytes)');
  if (input.length > o.maxBytes) {
    throw new MeshError(
      'TOO_LARGE',
      `the model file has ${input.length} bytes, over maxBytes (${o.maxBytes})`,
    );
  }
  const format = o.format ?? detectFormat(input);
  if (format === 'stl-binary') return analyzeBinaryStl(input, o);

  let mesh: IndexedMesh;
  if (format === 'stl-ascii') mesh = parseAsciiStl(input, o.maxTriangles);
  else if (format === 'obj') mesh = parseObj(input, o.maxTriangles);
  else {
    mesh = parse3mf(input, {
      maxEntryBytes: o.maxDecompressedBytes,
      maxRatio: o.maxCompressionRatio,
      maxTriangles: o.maxTriangles,
    });
  }
  const triangles = mesh.indices.length / 3;
  if (triangles === 0) throw new MeshError('EMPTY', `the ${format} model has no triangles`);
  const geometry = indexedGeometry(mesh.positions, mesh.indices, triangles);
  let topology: Topology | null = null;
  if (o.topology) {
    const vertexCount = mesh.positions.length / 3;
    const { remap, count } = weldPositions(mesh.positions, vertexCount);
    const tri = new Int32Array(mesh.indices.length);
    for (let i = 0; i < tri.length; i++) tri[i] = remap[mesh.indices[i]!]!;
    topology = analyzeTopology(tri, triangles, count);
  }
  return assemble(format, triangles, geometry, topology, mesh.warnings);
}

function analyzeBinaryStl(bytes: Uint8Array, o: NormalizedAnalyzeOptions): MeshAnalysis {
  const n = bytes.length;
  if (n < STL_HEADER) {
    throw new MeshError('TRUNCATED', `binary STL needs an 84-byte header, the file has ${n} bytes`);
  }
  const declared = new DataView(bytes.buffer, bytes.byteOffset, n).getUint32(80, true);
  const payload = n - STL_HEADER;
  const fits = Math.floor(payload / STL_RECORD);
  const warnings: string[] = [];
  let triangles = declared;
  if (declared === 0 && payload > 0 && payload % STL_RECORD === 0) {
    // Some streaming writers never patch the count; whole records filling the file exactly
    // are unambiguous, so this is the one case recovered rather than refused.
    triangles = fits;
    warnings.push(
      `RECOVERED_COUNT: header declares 0 triangles, the size holds exactly ${fits}; used ${fits}`,
    );
  } else if (declared > fits) {
    if (payload % STL_RECORD === 0) {
      throw new MeshError(
        'BAD_COUNT',
        `binary STL header declares ${declared} triangles but the ${n}-byte file holds exactly ${fits}; the count is wrong`,
      );
    }
    throw new MeshError(
      'TRUNCATED',
      `binary STL header declares ${declared} triangles (${STL_HEADER + STL_RECORD * declared} bytes) but the file has ${n} bytes: it is cut short after ${fits} whole triangles`,
    );
  } else if (declared < fits || payload % STL_RECORD !== 0) {
    warnings.push(
      `TRAILING_BYTES: ignored ${payload - declared * STL_RECORD} bytes after the ${declared} declared triangles`,
    );
  }
  if (triangles > o.maxTriangles) {
    throw new MeshError(
      'TOO_LARGE',
      `binary STL has ${triangles} triangles, over maxTriangles (${o.maxTriangles})`,
    );
  }
  if (triangles === 0) throw new MeshError('EMPTY', 'binary STL declares 0 triangles');
  const pass = binaryStlPass(bytes, triangles, o.topology);
  const topology =
    pass.tri === null ? null : analyzeTopology(pass.tri, triangles, pass.vertexCount);
  return assemble('stl-binary', triangles, pass.geometry, topology, warnings);
}

function assemble(
  format: MeshFormat,
  triangles: number,
  g: Geometry,
  t: Topology | null,
  warnings: string[],
): MeshAnalysis {
  const reasons: string[] = [];
  let trusted = true;
  if (t === null) {
    trusted = false;
    reasons.push('NOT_CHECKED: topology was skipped (topology: false), closedness is unknown');
  } else {
    if (t.boundaryEdges > 0) {
      trusted = false;
      reasons.push(`OPEN_MESH: ${t.boundaryEdges} edges belong to one face only (holes)`);
    }
    if (t.misorientedEdges > 0) {
      trusted = false;
      reasons.push(
        `INCONSISTENT_ORIENTATION: ${t.misorientedEdges} edges join faces with opposite normals`,
      );
    }
    if (t.nonManifoldEdges > 0) {
      trusted = false;
      reasons.push(`NON_MANIFOLD: ${t.nonManifoldEdges} edges are shared by more than two faces`);
    }
  }
  if (g.volume < 0) {
    trusted = false;
    reasons.push('INVERTED: the signed volume is negative, the faces point inwards');
  } else if (g.volume === 0) {
    trusted = false;
    reasons.push('ZERO_VOLUME: the surface encloses no volume');
  }
  // Zero-area faces add nothing to volume or area, so they do not make the volume wrong on
  // their own; they are listed because they usually come with other defects.
  if (g.zeroAreaFaces > 0)
    reasons.push(`DEGENERATE_FACES: ${g.zeroAreaFaces} faces have zero area`);
  const watertight =
    t === null
      ? null
      : t.boundaryEdges === 0 && t.misorientedEdges === 0 && t.nonManifoldEdges === 0;
  return {
    format,
    triangles,
    vertices: t === null ? null : t.vertices,
    volume: g.volume,
    area: g.area,
    bbox: {
      min: g.min,
      max: g.max,
      size: [g.max[0] - g.min[0], g.max[1] - g.min[1], g.max[2] - g.min[2]],
    },
    shells: t === null ? null : t.shells,
    watertight,
    edges:
      t === null
        ? null
        : {
            total: t.edges,
            boundary: t.boundaryEdges,
            misoriented: t.misorientedEdges,
            nonManifold: t.nonManifoldEdges,
          },
    degenerateFaces: g.zeroAreaFaces,
    confidence: { volumeTrusted: trusted, reasons },
    warnings,
  };
}
