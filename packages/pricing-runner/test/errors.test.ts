import { describe, expect, it } from 'vitest';
import { analyzeMesh, MeshError, type MeshErrorCode } from '../src/index.js';
import { expectInvalidOption } from './invalid-option.js';
import { binaryStl, meshXml, threeMf, uvSphere, zip, RELS } from './meshes.js';

function codeOf(fn: () => unknown): MeshErrorCode | 'no error' {
  try {
    fn();
    return 'no error';
  } catch (error) {
    expect(error).toBeInstanceOf(MeshError);
    expect((error as Error).message.length).toBeGreaterThan(10);
    return (error as MeshError).code;
  }
}

const sphere = uvSphere(5, 8, 12);
const goodModel = `<model unit="millimeter"><resources><object id="1">${meshXml(sphere)}</object></resources><build><item objectid="1"/></build></model>`;

describe('malformed input gives a typed error with a stable code', () => {
  it('EMPTY: zero bytes', () => {
    expect(codeOf(() => analyzeMesh(new Uint8Array(0)))).toBe('EMPTY');
  });

  it('EMPTY: a binary STL declaring zero triangles', () => {
    const stl = Buffer.alloc(84);
    expect(codeOf(() => analyzeMesh(stl))).toBe('EMPTY');
  });

  it('TRUNCATED: a binary STL cut in the middle of a triangle', () => {
    const stl = binaryStl(sphere);
    expect(codeOf(() => analyzeMesh(stl.subarray(0, stl.length - 20)))).toBe('TRUNCATED');
  });

  it('TRUNCATED: an ASCII STL cut inside a facet', () => {
    expect(
      codeOf(() =>
        analyzeMesh(
          Buffer.from('solid x\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0'),
        ),
      ),
    ).toBe('TRUNCATED');
  });

  it('BAD_COUNT: a binary STL header count the file size contradicts', () => {
    const stl = binaryStl(sphere);
    stl.writeUInt32LE(0xffffffff, 80);
    const error = (() => {
      try {
        analyzeMesh(stl);
      } catch (e) {
        return e as MeshError;
      }
      throw new Error('expected an error');
    })();
    expect(error.code).toBe('BAD_COUNT');
    expect(error.message).toMatch(/declares 4294967295 triangles/);
  });

  it('NON_FINITE: a NaN coordinate in binary STL, located by triangle', () => {
    const stl = binaryStl(sphere);
    stl.writeFloatLE(Number.NaN, 84 + 50 * 3 + 12 + 4);
    expect(() => analyzeMesh(stl)).toThrow(/triangle 3 .* NaN/);
    expect(codeOf(() => analyzeMesh(stl))).toBe('NON_FINITE');
  });

  it('NON_FINITE: an infinite coordinate in OBJ', () => {
    expect(codeOf(() => analyzeMesh(Buffer.from('v 0 0 0\nv 1 0 inf\nv 0 1 0\nf 1 2 3\n')))).toBe(
      'NON_FINITE',
    );
  });

  it('UNKNOWN_FORMAT: a few bytes of nothing recognisable', () => {
    expect(codeOf(() => analyzeMesh(Uint8Array.of(1, 2, 3, 4)))).toBe('UNKNOWN_FORMAT');
  });

  it('TOO_LARGE: input over maxBytes', () => {
    expect(codeOf(() => analyzeMesh(binaryStl(sphere), { maxBytes: 1000 }))).toBe('TOO_LARGE');
  });

  it('TOO_LARGE: more triangles than maxTriangles', () => {
    expect(codeOf(() => analyzeMesh(binaryStl(sphere), { maxTriangles: 10 }))).toBe('TOO_LARGE');
  });

  it('ZIP_BOMB: a 3MF part that inflates past the compression ratio limit', () => {
    const padded = goodModel.replace(
      '<resources>',
      `<!--${' '.repeat(4 * 1024 * 1024)}--><resources>`,
    );
    expect(codeOf(() => analyzeMesh(threeMf(padded)))).toBe('ZIP_BOMB');
  });

  it('ZIP_BOMB: a 3MF part that inflates past the size it declares', () => {
    const lying = zip([
      { name: '_rels/.rels', data: Buffer.from(RELS) },
      { name: '3D/3dmodel.model', data: Buffer.from(goodModel), declaredSize: 100 },
    ]);
    expect(codeOf(() => analyzeMesh(lying))).toBe('ZIP_BOMB');
  });

  it('ZIP_BOMB: a 3MF part over maxDecompressedBytes', () => {
    expect(codeOf(() => analyzeMesh(threeMf(goodModel), { maxDecompressedBytes: 1000 }))).toBe(
      'ZIP_BOMB',
    );
  });

  it('BAD_ZIP: a ZIP whose central directory is garbage', () => {
    const file = threeMf(goodModel);
    const dirOffset = file.readUInt32LE(file.length - 6);
    file.fill(0x55, dirOffset, dirOffset + 8);
    expect(codeOf(() => analyzeMesh(file))).toBe('BAD_ZIP');
  });

  it('TRUNCATED: a 3MF cut short (no end-of-directory record)', () => {
    const file = threeMf(goodModel);
    expect(codeOf(() => analyzeMesh(file.subarray(0, file.length - 30)))).toBe('TRUNCATED');
  });

  it('BAD_3MF: a build item pointing at a missing object', () => {
    expect(
      codeOf(() =>
        analyzeMesh(threeMf(goodModel.replace('item objectid="1"', 'item objectid="9"'))),
      ),
    ).toBe('BAD_3MF');
  });

  it('BAD_3MF: a triangle referring to a vertex that does not exist', () => {
    expect(codeOf(() => analyzeMesh(threeMf(goodModel.replace('v1="0"', 'v1="100000"'))))).toBe(
      'BAD_3MF',
    );
  });

  it('BAD_3MF: components that form a cycle', () => {
    const model = `<model><resources><object id="1"><components><component objectid="2"/></components></object><object id="2"><components><component objectid="1"/></components></object></resources><build><item objectid="1"/></build></model>`;
    expect(() => analyzeMesh(threeMf(model))).toThrow(/cycle: 1 -> 2 -> 1/);
  });

  it('BAD_STL: an ASCII STL with a misspelt keyword', () => {
    expect(codeOf(() => analyzeMesh(Buffer.from('solid x\nfacet normal 0 0 1\nouter lop\n')))).toBe(
      'BAD_STL',
    );
  });

  it('BAD_OBJ: a face with two vertices', () => {
    expect(codeOf(() => analyzeMesh(Buffer.from('v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2\n')))).toBe(
      'BAD_OBJ',
    );
  });

  it('BAD_OBJ_INDEX: index 0, an index past the end, a negative index before the start', () => {
    expect(codeOf(() => analyzeMesh(Buffer.from('v 0 0 0\nv 1 0 0\nv 0 1 0\nf 0 1 2\n')))).toBe(
      'BAD_OBJ_INDEX',
    );
    expect(codeOf(() => analyzeMesh(Buffer.from('v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 4\n')))).toBe(
      'BAD_OBJ_INDEX',
    );
    expect(codeOf(() => analyzeMesh(Buffer.from('v 0 0 0\nv 1 0 0\nv 0 1 0\nf -1 -2 -4\n')))).toBe(
      'BAD_OBJ_INDEX',
    );
  });

  it('INVALID_OPTION: an invalid option is a programmer error, not a MeshError', () => {
    const error = expectInvalidOption(
      () => analyzeMesh(binaryStl(sphere), { maxBytes: -1 }),
      'analyzeMesh',
      'maxBytes',
      /must be a number above 0, got -1/,
    );
    expect(error).not.toBeInstanceOf(MeshError);
    expectInvalidOption(
      () => analyzeMesh(binaryStl(sphere), { format: 'ply' as never }),
      'analyzeMesh',
      'format',
      /stl-binary, stl-ascii, obj, 3mf, got "ply"/,
    );
    expectInvalidOption(
      () => analyzeMesh(binaryStl(sphere), { topology: 'yes' as never }),
      'analyzeMesh',
      'topology',
    );
    expectInvalidOption(() => analyzeMesh(binaryStl(sphere), 5 as never), 'analyzeMesh', 'options');
  });

  it('input that is not bytes is an argument error (TypeError)', () => {
    expect(() => analyzeMesh('ring.stl' as never)).toThrow(TypeError);
    expect(() => analyzeMesh('ring.stl' as never)).toThrow(/input must be a Uint8Array or Buffer/);
  });

  it('never hangs or crashes on random bytes', () => {
    let seed = 42;
    const random = (): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed >>> 24;
    };
    for (let i = 0; i < 200; i++) {
      const bytes = Uint8Array.from({ length: 4 + ((i * 37) % 600) }, random);
      if (i % 3 === 0) bytes.set([0x50, 0x4b, 0x03, 0x04]);
      try {
        analyzeMesh(bytes);
      } catch (error) {
        expect(error).toBeInstanceOf(MeshError);
      }
    }
  });
});
