// Files that are no mesh at all (a photo, a letter, an archive) are refused as UNKNOWN_FORMAT
// naming the accepted formats, while a real binary STL that is damaged is still reported as
// damaged (TRUNCATED, BAD_COUNT): binary STL has no magic number, so this is the boundary.
import { crc32, deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { analyzeMesh, MeshError, type MeshErrorCode } from '../src/index.js';
import { binaryStl, uvSphere, zip } from './meshes.js';

function refusal(bytes: Uint8Array): { code: MeshErrorCode; message: string } {
  try {
    analyzeMesh(bytes);
  } catch (error) {
    expect(error).toBeInstanceOf(MeshError);
    return { code: (error as MeshError).code, message: (error as MeshError).message };
  }
  throw new Error('expected analyzeMesh to refuse the file');
}

const ACCEPTED = /accepted formats are binary STL, ASCII STL, OBJ or 3MF/;

function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** A real 16×16 RGBA PNG: the signature, IHDR, a tEXt chunk, IDAT and IEND. */
function png(): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(16, 0); // width
  header.writeUInt32BE(16, 4); // height
  header[8] = 8; // bit depth
  header[9] = 6; // colour type: RGBA
  const rows = Buffer.alloc(16 * (1 + 16 * 4), 0x7f);
  for (let row = 0; row < 16; row++) rows[row * (1 + 16 * 4)] = 0; // filter: none
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', header),
    pngChunk('tEXt', Buffer.from('Software\0photo of the ring, taken on the workbench at noon')),
    pngChunk('IDAT', deflateSync(rows)),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** The start of a JFIF JPEG: SOI, APP0 and a quantisation table, then EOI. */
function jpeg(): Buffer {
  return Buffer.concat([
    Buffer.from([0xff, 0xd8]),
    Buffer.from([0xff, 0xe0, 0x00, 0x10]),
    Buffer.from('JFIF\0', 'latin1'),
    Buffer.from([0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00]),
    Buffer.from([0xff, 0xdb, 0x00, 0x43, 0x00]),
    Buffer.from(Array.from({ length: 64 }, (_, i) => 1 + (i % 16))),
    Buffer.from([0xff, 0xd9]),
  ]);
}

describe('UNKNOWN_FORMAT: a file that is no mesh', () => {
  it('a renamed PNG is not read as a binary STL declaring an invented triangle count', () => {
    const bytes = png();
    expect(bytes.length).toBeGreaterThan(84); // long enough to pass for an STL header
    const { code, message } = refusal(bytes);
    expect(code).toBe('UNKNOWN_FORMAT');
    expect(message).toMatch(/PNG image/);
    expect(message).toMatch(ACCEPTED);
    expect(message).not.toMatch(/triangles/);
  });

  it('a JPEG header', () => {
    const bytes = jpeg();
    expect(bytes.length).toBeGreaterThan(84);
    const { code, message } = refusal(bytes);
    expect(code).toBe('UNKNOWN_FORMAT');
    expect(message).toMatch(/JPEG image/);
    expect(message).toMatch(ACCEPTED);
  });

  it('a plain text file', () => {
    const letter = Buffer.from(
      'Dear workshop,\n\nplease find attached the ring we talked about. It is to be cast in\n18 kt gold, size 54.\n\nKind regards,\nAnna\n',
    );
    const { code, message } = refusal(letter);
    expect(code).toBe('UNKNOWN_FORMAT');
    expect(message).toMatch(/is text, but neither ASCII STL .* nor OBJ/);
    expect(message).toMatch(ACCEPTED);
  });

  it('text with a few stray control bytes (a log with colour codes)', () => {
    const log = Buffer.from(
      `${'\u001b[32mINFO\u001b[0m upload received, 2 files, 1.2 MB in total, all of them checked\n'.repeat(20)}`,
    );
    expect(refusal(log).code).toBe('UNKNOWN_FORMAT');
  });

  it('GIF, PDF and gzip files, each named', () => {
    const pad = (head: string | number[]): Buffer =>
      Buffer.concat([
        typeof head === 'string' ? Buffer.from(head, 'latin1') : Buffer.from(head),
        Buffer.alloc(200, 0x01),
      ]);
    expect(refusal(pad('GIF89a'))).toMatchObject({
      code: 'UNKNOWN_FORMAT',
      message: expect.stringMatching(/GIF image/),
    });
    expect(refusal(pad('%PDF-1.7\n'))).toMatchObject({
      code: 'UNKNOWN_FORMAT',
      message: expect.stringMatching(/PDF document/),
    });
    expect(refusal(pad([0x1f, 0x8b, 0x08, 0x00]))).toMatchObject({
      code: 'UNKNOWN_FORMAT',
      message: expect.stringMatching(/gzip-compressed \(decompress it first\)/),
    });
  });

  it('a ZIP archive that holds no 3MF model', () => {
    const archive = zip([{ name: 'photos/ring.jpg', data: jpeg() }]);
    const { code, message } = refusal(archive);
    expect(code).toBe('UNKNOWN_FORMAT');
    expect(message).toMatch(/ZIP archive but no 3MF package/);
    expect(message).toMatch(ACCEPTED);
  });
});

describe('a damaged binary STL is still reported as damaged, not as UNKNOWN_FORMAT', () => {
  const sphere = uvSphere(5, 8, 12);
  // 80 printable characters: no NUL padding in the header.
  const textHeader =
    'solid ring; exported by a CAD tool that fills the whole header with text'.padEnd(80, '.');

  it('TRUNCATED: a binary STL whose 80-byte header is all text, cut short', () => {
    expect(textHeader).toHaveLength(80);
    const stl = binaryStl(sphere, textHeader);
    expect(refusal(stl.subarray(0, stl.length - 20)).code).toBe('TRUNCATED');
    expect(refusal(stl.subarray(0, 84 + 20)).code).toBe('TRUNCATED');
  });

  it('BAD_COUNT: a text header and a count of 0xffffffff', () => {
    const stl = binaryStl(sphere, textHeader);
    stl.writeUInt32LE(0xffffffff, 80);
    expect(refusal(stl)).toMatchObject({
      code: 'BAD_COUNT',
      message: expect.stringMatching(/declares 4294967295 triangles/),
    });
  });

  it('a complete binary STL is read whatever its header holds', () => {
    const stl = binaryStl(sphere, '\u0089PNG\r\n\u001a\n header of an odd exporter');
    expect(analyzeMesh(stl).format).toBe('stl-binary');
  });
});
