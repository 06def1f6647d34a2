// Test meshes and writers. Everything here is independent of the code under test: meshes
// are built from their parametric definitions, volumes and areas are computed with the
// plain origin-based formulas, and the file writers follow the format specifications.
import { crc32, deflateRawSync } from 'node:zlib';

export interface TestMesh {
  /** x, y, z per vertex; values are float32-representable so every format carries them exactly. */
  positions: number[];
  /** Three vertex indices per triangle. */
  triangles: number[];
}

const f = Math.fround;

export function uvSphere(
  radius: number,
  rings: number,
  segments: number,
  center = [0, 0, 0],
): TestMesh {
  const [cx, cy, cz] = center as [number, number, number];
  const positions: number[] = [f(cx), f(cy), f(cz + radius)];
  for (let i = 1; i < rings; i++) {
    const theta = (Math.PI * i) / rings;
    for (let j = 0; j < segments; j++) {
      const phi = (2 * Math.PI * j) / segments;
      positions.push(
        f(cx + radius * Math.sin(theta) * Math.cos(phi)),
        f(cy + radius * Math.sin(theta) * Math.sin(phi)),
        f(cz + radius * Math.cos(theta)),
      );
    }
  }
  positions.push(f(cx), f(cy), f(cz - radius));
  const south = positions.length / 3 - 1;
  const at = (i: number, j: number): number => 1 + (i - 1) * segments + (j % segments);
  const triangles: number[] = [];
  for (let j = 0; j < segments; j++) triangles.push(0, at(1, j), at(1, j + 1));
  for (let i = 1; i < rings - 1; i++) {
    for (let j = 0; j < segments; j++) {
      const a = at(i, j);
      const b = at(i + 1, j);
      const c = at(i + 1, j + 1);
      const d = at(i, j + 1);
      triangles.push(a, b, c, a, c, d);
    }
  }
  for (let j = 0; j < segments; j++) triangles.push(at(rings - 1, j), south, at(rings - 1, j + 1));
  return outward({ positions, triangles });
}

export function torus(major: number, minor: number, uSteps: number, vSteps: number): TestMesh {
  const positions: number[] = [];
  for (let i = 0; i < uSteps; i++) {
    const u = (2 * Math.PI * i) / uSteps;
    for (let j = 0; j < vSteps; j++) {
      const v = (2 * Math.PI * j) / vSteps;
      positions.push(
        f((major + minor * Math.cos(v)) * Math.cos(u)),
        f((major + minor * Math.cos(v)) * Math.sin(u)),
        f(minor * Math.sin(v)),
      );
    }
  }
  const at = (i: number, j: number): number => (i % uSteps) * vSteps + (j % vSteps);
  const triangles: number[] = [];
  for (let i = 0; i < uSteps; i++) {
    for (let j = 0; j < vSteps; j++) {
      triangles.push(
        at(i, j),
        at(i + 1, j),
        at(i + 1, j + 1),
        at(i, j),
        at(i + 1, j + 1),
        at(i, j + 1),
      );
    }
  }
  return outward({ positions, triangles });
}

export function inverted(mesh: TestMesh): TestMesh {
  const triangles = mesh.triangles.slice();
  for (let t = 0; t < triangles.length; t += 3) {
    const b = triangles[t + 1]!;
    triangles[t + 1] = triangles[t + 2]!;
    triangles[t + 2] = b;
  }
  return { positions: mesh.positions.slice(), triangles };
}

export function merge(...meshes: TestMesh[]): TestMesh {
  const positions: number[] = [];
  const triangles: number[] = [];
  for (const m of meshes) {
    const base = positions.length / 3;
    positions.push(...m.positions);
    for (const i of m.triangles) triangles.push(base + i);
  }
  return { positions, triangles };
}

function outward(mesh: TestMesh): TestMesh {
  return reference(mesh).volume < 0 ? inverted(mesh) : mesh;
}

/** Independent float64 volume (origin tetrahedra) and area. */
export function reference(mesh: TestMesh): { volume: number; area: number } {
  const p = mesh.positions;
  let volume = 0;
  let area = 0;
  for (let t = 0; t < mesh.triangles.length; t += 3) {
    const a = 3 * mesh.triangles[t]!;
    const b = 3 * mesh.triangles[t + 1]!;
    const c = 3 * mesh.triangles[t + 2]!;
    const [ax, ay, az] = [p[a]!, p[a + 1]!, p[a + 2]!];
    const [bx, by, bz] = [p[b]!, p[b + 1]!, p[b + 2]!];
    const [cx, cy, cz] = [p[c]!, p[c + 1]!, p[c + 2]!];
    volume += (ax * (by * cz - bz * cy) - ay * (bx * cz - bz * cx) + az * (bx * cy - by * cx)) / 6;
    const [ux, uy, uz] = [bx - ax, by - ay, bz - az];
    const [vx, vy, vz] = [cx - ax, cy - ay, cz - az];
    area += Math.hypot(uy * vz - uz * vy, uz * vx - ux * vz, ux * vy - uy * vx) / 2;
  }
  return { volume, area };
}

export function binaryStl(mesh: TestMesh, header = 'meskit test'): Buffer {
  const count = mesh.triangles.length / 3;
  const buf = Buffer.alloc(84 + 50 * count);
  buf.write(header.slice(0, 80), 0, 'latin1');
  buf.writeUInt32LE(count, 80);
  let o = 84;
  for (let t = 0; t < mesh.triangles.length; t += 3) {
    o += 12; // normal left zero, as many exporters do
    for (let k = 0; k < 3; k++) {
      const v = 3 * mesh.triangles[t + k]!;
      for (let c = 0; c < 3; c++) {
        buf.writeFloatLE(mesh.positions[v + c]!, o);
        o += 4;
      }
    }
    o += 2;
  }
  return buf;
}

export function asciiStl(mesh: TestMesh): Buffer {
  const lines = ['solid test part'];
  for (let t = 0; t < mesh.triangles.length; t += 3) {
    lines.push('  facet normal 0 0 0', '    outer loop');
    for (let k = 0; k < 3; k++) {
      const v = 3 * mesh.triangles[t + k]!;
      lines.push(
        `      vertex ${mesh.positions[v]} ${mesh.positions[v + 1]} ${mesh.positions[v + 2]}`,
      );
    }
    lines.push('    endloop', '  endfacet');
  }
  lines.push('endsolid test part', '');
  return Buffer.from(lines.join('\n'));
}

/** OBJ cycling through the four face forms and mixing absolute and negative indices. */
export function obj(mesh: TestMesh): Buffer {
  const lines = ['# meskit test', 'o part'];
  const n = mesh.positions.length / 3;
  for (let i = 0; i < n; i++) {
    lines.push(
      `v ${mesh.positions[3 * i]} ${mesh.positions[3 * i + 1]} ${mesh.positions[3 * i + 2]}`,
    );
  }
  lines.push('vt 0 0', 'vn 0 0 1');
  for (let t = 0; t < mesh.triangles.length; t += 3) {
    const refs = [0, 1, 2].map((k) => {
      const index = mesh.triangles[t + k]! + 1;
      const ref = (t / 3 + k) % 2 === 0 ? String(index) : String(index - n - 1);
      switch ((t / 3) % 4) {
        case 0:
          return ref;
        case 1:
          return `${ref}/1`;
        case 2:
          return `${ref}//1`;
        default:
          return `${ref}/1/1`;
      }
    });
    lines.push(`f ${refs.join(' ')}`);
  }
  return Buffer.from(lines.join('\r\n'));
}

export interface ZipFile {
  name: string;
  data: Buffer;
  /** Overrides the uncompressed size written in the headers (to forge a lying entry). */
  declaredSize?: number;
}

export function zip(files: ZipFile[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const file of files) {
    const name = Buffer.from(file.name);
    const compressed = deflateRawSync(file.data);
    const size = file.declaredSize ?? file.data.length;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(8, 8);
    local.writeUInt32LE(crc32(file.data), 14);
    local.writeUInt32LE(compressed.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(8, 10);
    central.writeUInt32LE(crc32(file.data), 16);
    central.writeUInt32LE(compressed.length, 20);
    central.writeUInt32LE(size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, compressed);
    centrals.push(central, name);
    offset += 30 + name.length + compressed.length;
  }
  const dir = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(files.length, 8);
  end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(dir.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, dir, end]);
}

export const RELS = `<?xml version="1.0" encoding="UTF-8"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
  <Relationship Target="/3D/3dmodel.model" Id="rel0" Type="http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"/>
</Relationships>`;

export function meshXml(mesh: TestMesh, scale = 1): string {
  const out = ['<mesh><vertices>'];
  for (let i = 0; i < mesh.positions.length; i += 3) {
    out.push(
      `<vertex x="${mesh.positions[i]! * scale}" y="${mesh.positions[i + 1]! * scale}" z="${mesh.positions[i + 2]! * scale}"/>`,
    );
  }
  out.push('</vertices><triangles>');
  for (let t = 0; t < mesh.triangles.length; t += 3) {
    out.push(
      `<triangle v1="${mesh.triangles[t]}" v2="${mesh.triangles[t + 1]}" v3="${mesh.triangles[t + 2]}"/>`,
    );
  }
  out.push('</triangles></mesh>');
  return out.join('\n');
}

export function threeMf(model: string, extra: ZipFile[] = []): Buffer {
  return zip([
    { name: '[Content_Types].xml', data: Buffer.from('<?xml version="1.0"?><Types/>') },
    { name: '_rels/.rels', data: Buffer.from(RELS) },
    { name: '3D/3dmodel.model', data: Buffer.from(model) },
    ...extra,
  ]);
}
