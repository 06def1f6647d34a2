// Format detection. Binary STL has no magic number (its 80-byte header is free text), so it is
// recognised by arithmetic: 84 + 50 × the declared count = the file size. When that fails the
// file is either a damaged binary STL (cut short, wrong count: TRUNCATED or BAD_COUNT) or no
// mesh at all; it is only called the latter on positive evidence, a signature of another
// format or text, so a damaged STL is still reported as damaged.
import type { MeshFormat } from '../analyze.js';
import { MeshError } from '../errors.js';

export const STL_HEADER = 84;
export const STL_RECORD = 50;

/** Named in every UNKNOWN_FORMAT message, so the sender knows what to send instead. */
const ACCEPTED_FORMATS = 'binary STL, ASCII STL, OBJ or 3MF';

/** How much of the file the text tests look at. */
const HEAD_BYTES = 4096;

interface Signature {
  /** Completes "the file is ...". */
  what: string;
  matches(bytes: Uint8Array): boolean;
}

const startsWith =
  (...magic: (string | number)[]) =>
  (bytes: Uint8Array): boolean => {
    const expected = magic.flatMap((part) =>
      typeof part === 'number' ? [part] : [...part].map((c) => c.charCodeAt(0)),
    );
    return expected.length <= bytes.length && expected.every((b, i) => bytes[i] === b);
  };

/**
 * Other formats a customer may send by mistake. Each signature starts the file; none is text
 * an exporter writes at the start of an STL header (names, `solid ...`, `COLOR=`, zeros).
 */
const SIGNATURES: readonly Signature[] = [
  { what: 'a PNG image', matches: startsWith(0x89, 'PNG\r\n', 0x1a, '\n') },
  { what: 'a JPEG image', matches: startsWith(0xff, 0xd8, 0xff) },
  { what: 'a GIF image', matches: (b) => startsWith('GIF87a')(b) || startsWith('GIF89a')(b) },
  {
    what: 'a WebP image',
    matches: (b) => startsWith('RIFF')(b) && startsWith('WEBP')(b.subarray(8)),
  },
  { what: 'a TIFF image', matches: (b) => startsWith('II*', 0)(b) || startsWith('MM', 0, '*')(b) },
  {
    // "BM" alone is too common a start of text: the BMP header also holds the file's size.
    what: 'a BMP image',
    matches: (b) =>
      startsWith('BM')(b) &&
      b.length >= 6 &&
      new DataView(b.buffer, b.byteOffset, b.length).getUint32(2, true) === b.length,
  },
  { what: 'a PDF document', matches: startsWith('%PDF-') },
  { what: 'gzip-compressed (decompress it first)', matches: startsWith(0x1f, 0x8b, 0x08) },
  { what: 'a 7-Zip archive', matches: startsWith('7z', 0xbc, 0xaf, 0x27, 0x1c) },
  { what: 'a RAR archive', matches: startsWith('Rar!', 0x1a, 0x07) },
  { what: 'a PLY model', matches: (b) => startsWith('ply\n')(b) || startsWith('ply\r\n')(b) },
  { what: 'a glTF binary model (GLB)', matches: startsWith('glTF') },
  { what: 'an FBX model', matches: startsWith('Kaydara FBX Binary') },
];

/** `UNKNOWN_FORMAT`: `what` the file is, then the formats to send instead. */
export function unknownFormat(what: string): MeshError {
  return new MeshError(
    'UNKNOWN_FORMAT',
    `${what}; accepted formats are ${ACCEPTED_FORMATS}: export the model in one of them`,
  );
}

/**
 * Binary or ASCII STL, OBJ or 3MF, from the first bytes and the size; throws `MeshError`
 * `UNKNOWN_FORMAT` (naming the accepted formats) for a file that is none of them.
 */
export function detectFormat(bytes: Uint8Array): MeshFormat {
  const n = bytes.length;
  if (startsWith('PK', 0x03, 0x04)(bytes)) return '3mf';
  if (n >= STL_HEADER) {
    const count = new DataView(bytes.buffer, bytes.byteOffset, n).getUint32(80, true);
    // The size matching the declared count exactly is the strongest evidence there is: it is
    // what lets a binary file whose header begins with "solid" be read as binary.
    if (STL_HEADER + STL_RECORD * count === n) return 'stl-binary';
  }
  const head = bytes.subarray(0, Math.min(n, HEAD_BYTES));
  const text = latin1(head);
  if (isText(head)) {
    if (
      /^\s*solid\b/i.test(text) &&
      (/\bfacet\b/i.test(text) || /\bendsolid\b/i.test(text) || n <= HEAD_BYTES)
    )
      return 'stl-ascii';
    if (/^\s*(v|f|vt|vn|o|g|s|usemtl|mtllib)\s/m.test(text) || /^\s*#/.test(text)) return 'obj';
  }
  if (n < STL_HEADER && /^\s*solid/i.test(text)) return 'stl-ascii';
  const other = SIGNATURES.find((signature) => signature.matches(bytes));
  if (other) throw unknownFormat(`the file is ${other.what}, not a 3D model`);
  if (isMostlyText(head)) {
    throw unknownFormat(
      `the ${n}-byte file is text, but neither ASCII STL (which starts with "solid" and has "facet" lines) nor OBJ ("v" and "f" lines)`,
    );
  }
  if (n >= STL_HEADER) return 'stl-binary';
  throw unknownFormat(
    `the ${n}-byte file is too short for a binary STL (an 84-byte header) and is none of the other formats`,
  );
}

function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
}

/** Whitespace and printable bytes only (UTF-8 included): what ASCII STL and OBJ are made of. */
function isText(head: Uint8Array): boolean {
  for (let i = 0; i < head.length; i++) {
    const c = head[i]!;
    // Binary STL headers and float data are full of NULs and control bytes; text never is.
    if (c === 0 || c < 0x09 || (c > 0x0d && c < 0x20)) return false;
  }
  return true;
}

/**
 * Text with at most 5 % stray control bytes (a log with colour codes, a pasted document) and
 * no NUL at all. Never true of a binary STL: its count (bytes 80 to 83) has a NUL byte below
 * 16,777,216 triangles, and its records are float32 values and attribute words full of them.
 */
function isMostlyText(head: Uint8Array): boolean {
  let control = 0;
  for (let i = 0; i < head.length; i++) {
    const c = head[i]!;
    if (c === 0) return false;
    if (c < 0x09 || (c > 0x0d && c < 0x20)) control++;
  }
  return control * 20 <= head.length;
}
