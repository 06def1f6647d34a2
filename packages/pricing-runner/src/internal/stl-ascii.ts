// ASCII STL: `solid name` { `facet normal n n n` `outer loop` `vertex x y z`{3} `endloop`
// `endfacet` } `endsolid name`, possibly several solids in one file. Facet normals are
// skipped (winding defines orientation, and exporters often write zero or stale normals).
// A facet loop with more than three vertices, written by a few tools, is fan-triangulated.

import { MeshError } from '../errors.js';
import { Float64Builder, Uint32Builder, type IndexedMesh } from './builders.js';
import { isSpace, latin1, lineAt, parseNumber, clip } from './text.js';

class Tokens {
  pos = 0;
  start = 0;
  end = 0;

  constructor(readonly bytes: Uint8Array) {}

  /** Advances to the next whitespace-separated token; false at end of input. */
  next(): boolean {
    const b = this.bytes;
    let p = this.pos;
    while (p < b.length && isSpace(b[p]!)) p++;
    if (p >= b.length) {
      this.pos = p;
      return false;
    }
    this.start = p;
    while (p < b.length && !isSpace(b[p]!)) p++;
    this.end = p;
    this.pos = p;
    return true;
  }

  is(word: string): boolean {
    if (this.end - this.start !== word.length) return false;
    for (let i = 0; i < word.length; i++) {
      // Case-insensitive: some exporters write FACET/VERTEX in capitals.
      if ((this.bytes[this.start + i]! | 0x20) !== word.charCodeAt(i)) return false;
    }
    return true;
  }

  skipLine(): void {
    const b = this.bytes;
    let p = this.pos;
    while (p < b.length && b[p] !== 0x0a) p++;
    this.pos = p;
  }

  text(): string {
    return clip(latin1(this.bytes, this.start, this.end));
  }
}

export function parseAsciiStl(bytes: Uint8Array, maxTriangles: number): IndexedMesh {
  const tk = new Tokens(bytes);
  const positions = new Float64Builder();
  const indices = new Uint32Builder();
  const warnings: string[] = [];
  let vertexCount = 0;

  const expect = (word: string): void => {
    if (!tk.next()) {
      throw new MeshError('TRUNCATED', `ASCII STL ends where "${word}" was expected`);
    }
    if (!tk.is(word)) {
      throw new MeshError(
        'BAD_STL',
        `ASCII STL line ${lineAt(bytes, tk.start)}: expected "${word}", found "${tk.text()}"`,
      );
    }
  };
  const coordinate = (axis: string): number => {
    if (!tk.next()) throw new MeshError('TRUNCATED', 'ASCII STL ends inside a vertex');
    return parseNumber(bytes, tk.start, tk.end, `vertex ${axis}`, 'BAD_STL');
  };

  let solids = 0;
  while (tk.next()) {
    if (!tk.is('solid')) {
      if (solids > 0) {
        warnings.push(`ignored bytes after the last "endsolid" (line ${lineAt(bytes, tk.start)})`);
        break;
      }
      throw new MeshError('BAD_STL', `ASCII STL must start with "solid", found "${tk.text()}"`);
    }
    solids++;
    tk.skipLine();
    let ended = false;
    while (tk.next()) {
      if (tk.is('endsolid')) {
        tk.skipLine();
        ended = true;
        break;
      }
      if (!tk.is('facet')) {
        throw new MeshError(
          'BAD_STL',
          `ASCII STL line ${lineAt(bytes, tk.start)}: expected "facet" or "endsolid", found "${tk.text()}"`,
        );
      }
      expect('normal');
      for (let i = 0; i < 3; i++) {
        if (!tk.next()) throw new MeshError('TRUNCATED', 'ASCII STL ends inside a facet normal');
      }
      expect('outer');
      expect('loop');
      const first = vertexCount;
      for (;;) {
        if (!tk.next()) throw new MeshError('TRUNCATED', 'ASCII STL ends inside a facet loop');
        if (tk.is('endloop')) break;
        if (!tk.is('vertex')) {
          throw new MeshError(
            'BAD_STL',
            `ASCII STL line ${lineAt(bytes, tk.start)}: expected "vertex" or "endloop", found "${tk.text()}"`,
          );
        }
        positions.push3(coordinate('x'), coordinate('y'), coordinate('z'));
        vertexCount++;
      }
      const corners = vertexCount - first;
      if (corners < 3) {
        throw new MeshError(
          'BAD_STL',
          `ASCII STL facet ending on line ${lineAt(bytes, tk.start)} has ${corners} vertices, needs 3`,
        );
      }
      for (let k = 1; k + 1 < corners; k++) indices.push3(first, first + k, first + k + 1);
      if (indices.length / 3 > maxTriangles) {
        throw new MeshError(
          'TOO_LARGE',
          `ASCII STL has more than maxTriangles (${maxTriangles}) triangles`,
        );
      }
      expect('endfacet');
    }
    if (!ended) {
      // A missing final "endsolid" loses nothing when every facet was complete.
      warnings.push('ASCII STL has no final "endsolid"; all facets before the end were complete');
      break;
    }
  }
  return { positions: positions.view(), indices: indices.view(), warnings };
}
