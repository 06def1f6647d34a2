// 3MF (3D Manufacturing Format, core specification): a ZIP package whose root relationship
// points at an XML model. The model declares its unit, objects (a mesh, or components that
// place other objects with a transform) and build items (objects placed on the plate, again
// with a transform). The build is what gets manufactured, so we analyse the build: every
// item's object, components expanded, transforms applied, then everything scaled to mm.
//
// The XML is scanned tag by tag rather than parsed into a DOM: a model of a million
// triangles is a million elements, and a DOM would be an object per triangle.

import { MeshError } from '../errors.js';
import { unknownFormat } from './detect-format.js';
import { Float64Builder, Uint32Builder, type IndexedMesh } from './builders.js';
import { readZipDirectory, readZipEntry, type ZipLimits } from './zip.js';

/** Millimetres per model unit, from the 3MF core specification's ST_Unit. */
const UNIT_MM: Record<string, number> = {
  micron: 0.001,
  millimeter: 1,
  centimeter: 10,
  inch: 25.4,
  foot: 304.8,
  meter: 1000,
};

const MAX_COMPONENT_DEPTH = 32;

type Matrix = Float64Array; // 12 values, 3MF order: m00 m01 m02 m10 m11 m12 m20 m21 m22 m30 m31 m32

interface MeshObject {
  kind: 'mesh';
  type: string;
  positions: Float64Array;
  indices: Uint32Array;
}
interface ComponentsObject {
  kind: 'components';
  type: string;
  components: { objectId: string; transform: Matrix }[];
}
type ModelObject = MeshObject | ComponentsObject;

function bad(message: string): MeshError {
  return new MeshError('BAD_3MF', `3MF: ${message}`);
}

export function parse3mf(
  bytes: Uint8Array,
  limits: ZipLimits & { maxTriangles: number },
): IndexedMesh {
  const entries = readZipDirectory(bytes);
  const byName = new Map(entries.map((e) => [e.name.replace(/^\//, '').toLowerCase(), e]));
  let modelPath = '3d/3dmodel.model';
  let declaresModel = false;
  const rels = byName.get('_rels/.rels');
  if (rels) {
    const xml = utf8(readZipEntry(bytes, rels, limits));
    for (const tag of xml.match(/<(?:\w+:)?Relationship\b[^>]*>/g) ?? []) {
      if (/Type\s*=\s*["'][^"']*\/3dmodel["']/.test(tag)) {
        declaresModel = true;
        const target = /Target\s*=\s*["']([^"']+)["']/.exec(tag)?.[1];
        if (target) modelPath = target.replace(/^\//, '').toLowerCase();
        break;
      }
    }
  }
  const modelEntry =
    byName.get(modelPath) ?? entries.find((e) => e.name.toLowerCase().endsWith('.model'));
  // Neither a 3D model relationship nor a model part: a ZIP of something else (an archive of
  // files, an Office document), not a broken 3MF.
  if (!modelEntry && !declaresModel)
    throw unknownFormat('the file is a ZIP archive but no 3MF package (it has no 3D model part)');
  if (!modelEntry) throw bad('the package has no 3D model part (expected 3D/3dmodel.model)');
  return parseModelXml(utf8(readZipEntry(bytes, modelEntry, limits)), limits.maxTriangles);
}

function utf8(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
}

/** Value of attribute `name` inside the tag text s[start, end), or undefined. */
function attr(s: string, start: number, end: number, name: string): string | undefined {
  let p = start;
  for (;;) {
    p = s.indexOf(name, p);
    if (p < 0 || p >= end) return undefined;
    const before = s.charCodeAt(p - 1);
    let q = p + name.length;
    while (s.charCodeAt(q) === 0x20) q++;
    // Must be a whole attribute name (not the tail of "p:path" for "path", say).
    if (
      (before === 0x20 || before === 0x09 || before === 0x0a || before === 0x0d) &&
      s.charCodeAt(q) === 0x3d
    ) {
      q++;
      while (s.charCodeAt(q) === 0x20) q++;
      const quote = s.charCodeAt(q);
      if (quote !== 0x22 && quote !== 0x27) return undefined;
      const close = s.indexOf(quote === 0x22 ? '"' : "'", q + 1);
      if (close < 0 || close > end) return undefined;
      return s.slice(q + 1, close);
    }
    p = q;
  }
}

function num(value: string | undefined, what: string): number {
  if (value === undefined) throw bad(`${what} is missing`);
  const v = Number(value);
  if (value.trim() === '' || Number.isNaN(v)) {
    if (/^\s*[+-]?(inf(inity)?|nan)\s*$/i.test(value))
      throw new MeshError('NON_FINITE', `3MF: ${what} is "${value}"`);
    throw bad(`${what} is "${value.slice(0, 40)}", not a number`);
  }
  if (!Number.isFinite(v))
    throw new MeshError('NON_FINITE', `3MF: ${what} is "${value}", not finite`);
  return v;
}

function parseTransform(value: string | undefined, where: string): Matrix {
  const m = new Float64Array([1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]);
  if (value === undefined) return m;
  const parts = value.trim().split(/\s+/);
  if (parts.length !== 12) throw bad(`${where} transform has ${parts.length} numbers, needs 12`);
  for (let i = 0; i < 12; i++) m[i] = num(parts[i], `${where} transform value ${i + 1}`);
  return m;
}

/** a then b: a point p goes to (p * a) * b in 3MF's row-vector convention. */
function compose(a: Matrix, b: Matrix): Matrix {
  const r = new Float64Array(12);
  for (let row = 0; row < 4; row++) {
    for (let col = 0; col < 3; col++) {
      let v = row === 3 ? b[9 + col]! : 0;
      for (let k = 0; k < 3; k++) v += a[row * 3 + k]! * b[k * 3 + col]!;
      r[row * 3 + col] = v;
    }
  }
  return r;
}

function determinant(m: Matrix): number {
  return (
    m[0]! * (m[4]! * m[8]! - m[5]! * m[7]!) -
    m[1]! * (m[3]! * m[8]! - m[5]! * m[6]!) +
    m[2]! * (m[3]! * m[7]! - m[4]! * m[6]!)
  );
}

function parseModelXml(xml: string, maxTriangles: number): IndexedMesh {
  const objects = new Map<string, ModelObject>();
  const items: { objectId: string; transform: Matrix }[] = [];
  const warnings: string[] = [];
  let unit = 'millimeter';
  let sawModel = false;

  let objectId: string | undefined;
  let objectType = 'model';
  let positions: Float64Builder | undefined;
  let indices: Uint32Builder | undefined;
  let vertexCount = 0;
  let components: ComponentsObject['components'] | undefined;
  let totalTriangles = 0;

  let p = 0;
  const n = xml.length;
  while (p < n) {
    const lt = xml.indexOf('<', p);
    if (lt < 0) break;
    const c = xml.charCodeAt(lt + 1);
    if (c === 0x3f /* ? */) {
      p = skipPast(xml, lt, '?>');
      continue;
    }
    if (c === 0x21 /* ! */) {
      p = xml.startsWith('<!--', lt)
        ? skipPast(xml, lt, '-->')
        : xml.startsWith('<![CDATA[', lt)
          ? skipPast(xml, lt, ']]>')
          : skipPast(xml, lt, '>');
      continue;
    }
    const gt = xml.indexOf('>', lt);
    if (gt < 0) throw new MeshError('TRUNCATED', '3MF: the model XML ends inside a tag');
    p = gt + 1;
    const closing = c === 0x2f;
    let nameStart = closing ? lt + 2 : lt + 1;
    let nameEnd = nameStart;
    while (nameEnd < gt && !isXmlSpace(xml.charCodeAt(nameEnd)) && xml.charCodeAt(nameEnd) !== 0x2f)
      nameEnd++;
    // Core elements are unprefixed in practice; dropping a prefix tolerates writers that bind
    // the core namespace to one. Extension elements keep distinct local names.
    const colon = xml.indexOf(':', nameStart);
    if (colon >= 0 && colon < nameEnd) nameStart = colon + 1;
    const name = xml.slice(nameStart, nameEnd);

    if (closing) {
      if (name === 'object' && objectId !== undefined) {
        if (positions && indices) {
          objects.set(objectId, {
            kind: 'mesh',
            type: objectType,
            positions: positions.view(),
            indices: indices.view(),
          });
        } else if (components) {
          objects.set(objectId, { kind: 'components', type: objectType, components });
        }
        objectId = undefined;
        positions = undefined;
        indices = undefined;
        components = undefined;
      }
      continue;
    }

    switch (name) {
      case 'vertex': {
        if (!positions) throw bad('a <vertex> outside <mesh><vertices>');
        positions.push3(
          num(attr(xml, nameEnd, gt, 'x'), `vertex ${vertexCount} x`),
          num(attr(xml, nameEnd, gt, 'y'), `vertex ${vertexCount} y`),
          num(attr(xml, nameEnd, gt, 'z'), `vertex ${vertexCount} z`),
        );
        vertexCount++;
        break;
      }
      case 'triangle': {
        if (!indices) throw bad('a <triangle> outside <mesh><triangles>');
        const v1 = index(attr(xml, nameEnd, gt, 'v1'), vertexCount, objectId);
        const v2 = index(attr(xml, nameEnd, gt, 'v2'), vertexCount, objectId);
        const v3 = index(attr(xml, nameEnd, gt, 'v3'), vertexCount, objectId);
        indices.push3(v1, v2, v3);
        if (++totalTriangles > maxTriangles)
          throw new MeshError(
            'TOO_LARGE',
            `3MF has more than maxTriangles (${maxTriangles}) triangles`,
          );
        break;
      }
      case 'model': {
        sawModel = true;
        unit = attr(xml, nameEnd, gt, 'unit') ?? 'millimeter';
        if (!(unit in UNIT_MM))
          throw bad(`unknown unit "${unit}" (expected one of ${Object.keys(UNIT_MM).join(', ')})`);
        break;
      }
      case 'object': {
        objectId = attr(xml, nameEnd, gt, 'id');
        if (objectId === undefined) throw bad('an <object> without an id');
        if (objects.has(objectId)) throw bad(`two objects have id ${objectId}`);
        objectType = attr(xml, nameEnd, gt, 'type') ?? 'model';
        break;
      }
      case 'mesh':
        if (objectId === undefined) throw bad('a <mesh> outside an <object>');
        positions = new Float64Builder();
        indices = new Uint32Builder();
        vertexCount = 0;
        break;
      case 'components':
        if (objectId === undefined) throw bad('<components> outside an <object>');
        components = [];
        break;
      case 'component': {
        if (!components) throw bad('a <component> outside <components>');
        if (attr(xml, nameEnd, gt, 'p:path') !== undefined)
          throw bad(
            'components in other model parts (production extension p:path) are not supported',
          );
        const ref = attr(xml, nameEnd, gt, 'objectid');
        if (ref === undefined) throw bad(`a component of object ${objectId} has no objectid`);
        components.push({
          objectId: ref,
          transform: parseTransform(
            attr(xml, nameEnd, gt, 'transform'),
            `component of object ${objectId}`,
          ),
        });
        break;
      }
      case 'item': {
        if (attr(xml, nameEnd, gt, 'p:path') !== undefined)
          throw bad(
            'build items in other model parts (production extension p:path) are not supported',
          );
        const ref = attr(xml, nameEnd, gt, 'objectid');
        if (ref === undefined) throw bad('a build <item> has no objectid');
        items.push({
          objectId: ref,
          transform: parseTransform(
            attr(xml, nameEnd, gt, 'transform'),
            `build item ${items.length + 1}`,
          ),
        });
        break;
      }
      default:
        break;
    }
  }
  if (!sawModel) throw bad('the model part has no <model> element');
  if (items.length === 0) throw bad('the model has no build items: nothing would be manufactured');

  const outPositions = new Float64Builder();
  const outIndices = new Uint32Builder();
  let outVertices = 0;
  let outTriangles = 0;
  const skippedTypes = new Set<string>();

  const place = (id: string, transform: Matrix, depth: number, path: string[]): void => {
    const object = objects.get(id);
    if (!object)
      throw bad(
        `${path.length ? `object ${path[path.length - 1]}` : 'a build item'} refers to missing object ${id}`,
      );
    if (path.includes(id)) throw bad(`components form a cycle: ${[...path, id].join(' -> ')}`);
    if (depth > MAX_COMPONENT_DEPTH)
      throw bad(`components nest deeper than ${MAX_COMPONENT_DEPTH}`);
    if (object.type === 'support' || object.type === 'surface' || object.type === 'other') {
      // Not part of the manufactured solid (support structures, zero-thickness surfaces).
      skippedTypes.add(object.type);
      return;
    }
    if (object.kind === 'components') {
      for (const component of object.components)
        place(component.objectId, compose(component.transform, transform), depth + 1, [
          ...path,
          id,
        ]);
      return;
    }
    const t = object.indices.length / 3;
    outTriangles += t;
    if (outTriangles > maxTriangles)
      throw new MeshError(
        'TOO_LARGE',
        `3MF build expands to more than maxTriangles (${maxTriangles}) triangles`,
      );
    const m = transform;
    const src = object.positions;
    const base = outVertices;
    for (let i = 0; i < src.length; i += 3) {
      const x = src[i]!;
      const y = src[i + 1]!;
      const z = src[i + 2]!;
      outPositions.push3(
        x * m[0]! + y * m[3]! + z * m[6]! + m[9]!,
        x * m[1]! + y * m[4]! + z * m[7]! + m[10]!,
        x * m[2]! + y * m[5]! + z * m[8]! + m[11]!,
      );
    }
    outVertices += src.length / 3;
    // A mirroring transform turns the surface inside out; swapping two corners keeps the
    // normals pointing outwards so the placed copy still has positive volume.
    const flip = determinant(m) < 0;
    const idx = object.indices;
    for (let i = 0; i < idx.length; i += 3) {
      if (flip) outIndices.push3(base + idx[i]!, base + idx[i + 2]!, base + idx[i + 1]!);
      else outIndices.push3(base + idx[i]!, base + idx[i + 1]!, base + idx[i + 2]!);
    }
  };
  for (const item of items) place(item.objectId, item.transform, 0, []);
  if (skippedTypes.size > 0)
    warnings.push(`skipped objects of type ${[...skippedTypes].join(', ')}: not part of the solid`);

  const scale = UNIT_MM[unit]!;
  const positions3 = outPositions.view();
  if (scale !== 1)
    for (let i = 0; i < positions3.length; i++) positions3[i] = positions3[i]! * scale;
  return { positions: positions3, indices: outIndices.view(), warnings };
}

function index(
  value: string | undefined,
  vertexCount: number,
  objectId: string | undefined,
): number {
  if (value === undefined) throw bad(`a triangle of object ${objectId} lacks v1, v2 or v3`);
  const v = Number(value);
  if (!Number.isInteger(v) || v < 0 || v >= vertexCount) {
    throw bad(
      `a triangle of object ${objectId} refers to vertex "${value.slice(0, 20)}", but the object has ${vertexCount} vertices`,
    );
  }
  return v;
}

function isXmlSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

function skipPast(s: string, from: number, marker: string): number {
  const at = s.indexOf(marker, from);
  if (at < 0) throw new MeshError('TRUNCATED', `3MF: the model XML ends before "${marker}"`);
  return at + marker.length;
}
