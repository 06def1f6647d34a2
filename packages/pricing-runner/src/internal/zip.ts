// A minimal, bounded ZIP reader: enough for 3MF (stored or deflated entries, optional
// zip64 fields), nothing more. Written here rather than taken from a dependency because
// what matters for untrusted uploads is the bounds, which we enforce ourselves:
// - the central directory is read from its declared place and every offset is checked
//   against the buffer before use;
// - only the entries the caller asks for are inflated, and each inflation is capped by
//   zlib's own `maxOutputLength`, so a lying size field cannot make us allocate more;
// - the declared size and the compression ratio are checked before inflating, and the
//   inflated bytes must match the declared size and CRC-32.

import { crc32, inflateRawSync } from 'node:zlib';
import { MeshError } from '../errors.js';

export interface ZipEntry {
  name: string;
  method: number;
  flags: number;
  crc: number;
  compressedSize: number;
  uncompressedSize: number;
  localHeaderOffset: number;
}

export interface ZipLimits {
  maxEntryBytes: number;
  maxRatio: number;
}

const EOCD_SIGNATURE = 0x06054b50;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
const MAX_ENTRIES = 10_000;

function bad(message: string): MeshError {
  return new MeshError('BAD_ZIP', `3MF container: ${message}`);
}

function u64(dv: DataView, offset: number): number {
  const lo = dv.getUint32(offset, true);
  const hi = dv.getUint32(offset + 4, true);
  if (hi > 0x1fffff) throw bad('a zip64 size or offset exceeds 2^53');
  return hi * 0x1_0000_0000 + lo;
}

export function readZipDirectory(bytes: Uint8Array): ZipEntry[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.length;
  if (n < 22) throw bad('too short to hold a ZIP end-of-central-directory record');
  // The end record sits in the last 22 bytes plus an optional comment of up to 65535.
  let eocd = -1;
  for (let p = n - 22; p >= Math.max(0, n - 22 - 0xffff); p--) {
    if (dv.getUint32(p, true) === EOCD_SIGNATURE) {
      eocd = p;
      break;
    }
  }
  if (eocd < 0)
    throw new MeshError(
      'TRUNCATED',
      '3MF container has no ZIP end record: the file is truncated or not a ZIP',
    );
  let entries = dv.getUint16(eocd + 10, true);
  let dirSize = dv.getUint32(eocd + 12, true);
  let dirOffset = dv.getUint32(eocd + 16, true);
  if (entries === 0xffff || dirSize === 0xffffffff || dirOffset === 0xffffffff) {
    const locator = eocd - 20;
    if (locator < 0 || dv.getUint32(locator, true) !== ZIP64_LOCATOR_SIGNATURE) {
      throw bad('zip64 values without a zip64 locator');
    }
    const z = u64(dv, locator + 8);
    if (z + 56 > n || dv.getUint32(z, true) !== ZIP64_EOCD_SIGNATURE)
      throw bad('bad zip64 end record');
    entries = u64(dv, z + 32);
    dirSize = u64(dv, z + 40);
    dirOffset = u64(dv, z + 48);
  }
  if (entries > MAX_ENTRIES)
    throw bad(`${entries} entries, more than the ${MAX_ENTRIES} a 3MF can need`);
  if (dirOffset + dirSize > n) {
    throw new MeshError(
      'TRUNCATED',
      '3MF container: the ZIP central directory lies past the end of the file',
    );
  }

  const out: ZipEntry[] = [];
  let p = dirOffset;
  for (let i = 0; i < entries; i++) {
    if (p + 46 > n || dv.getUint32(p, true) !== CENTRAL_SIGNATURE)
      throw bad(`central directory entry ${i} is corrupt`);
    const flags = dv.getUint16(p + 8, true);
    const method = dv.getUint16(p + 10, true);
    const crc = dv.getUint32(p + 16, true);
    let compressedSize = dv.getUint32(p + 20, true);
    let uncompressedSize = dv.getUint32(p + 24, true);
    const nameLength = dv.getUint16(p + 28, true);
    const extraLength = dv.getUint16(p + 30, true);
    const commentLength = dv.getUint16(p + 32, true);
    let localHeaderOffset = dv.getUint32(p + 42, true);
    const nameStart = p + 46;
    const extraStart = nameStart + nameLength;
    const next = extraStart + extraLength + commentLength;
    if (next > n) throw bad(`central directory entry ${i} runs past the end of the file`);
    const name = Buffer.from(bytes.buffer, bytes.byteOffset + nameStart, nameLength).toString(
      'utf8',
    );
    // zip64 extra field: the 64-bit values appear only for the 32-bit fields set to all ones.
    for (let e = extraStart; e + 4 <= extraStart + extraLength;) {
      const id = dv.getUint16(e, true);
      const size = dv.getUint16(e + 2, true);
      if (id === 0x0001) {
        let q = e + 4;
        if (uncompressedSize === 0xffffffff && q + 8 <= e + 4 + size) {
          uncompressedSize = u64(dv, q);
          q += 8;
        }
        if (compressedSize === 0xffffffff && q + 8 <= e + 4 + size) {
          compressedSize = u64(dv, q);
          q += 8;
        }
        if (localHeaderOffset === 0xffffffff && q + 8 <= e + 4 + size)
          localHeaderOffset = u64(dv, q);
      }
      e += 4 + size;
    }
    out.push({
      name: name.replace(/\\/g, '/'),
      method,
      flags,
      crc,
      compressedSize,
      uncompressedSize,
      localHeaderOffset,
    });
    p = next;
  }
  return out;
}

export function readZipEntry(bytes: Uint8Array, entry: ZipEntry, limits: ZipLimits): Uint8Array {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.length;
  if (entry.flags & 0x1) throw bad(`"${entry.name}" is encrypted`);
  const h = entry.localHeaderOffset;
  if (h + 30 > n || dv.getUint32(h, true) !== LOCAL_SIGNATURE)
    throw bad(`"${entry.name}" has no local header`);
  const dataStart = h + 30 + dv.getUint16(h + 26, true) + dv.getUint16(h + 28, true);
  const dataEnd = dataStart + entry.compressedSize;
  if (dataEnd > n) throw new MeshError('TRUNCATED', `3MF container: "${entry.name}" is cut short`);
  if (entry.uncompressedSize > limits.maxEntryBytes) {
    throw new MeshError(
      'ZIP_BOMB',
      `3MF entry "${entry.name}" declares ${entry.uncompressedSize} bytes, over maxDecompressedBytes (${limits.maxEntryBytes})`,
    );
  }
  const data = bytes.subarray(dataStart, dataEnd);
  let out: Uint8Array;
  if (entry.method === 0) {
    out = data;
  } else if (entry.method === 8) {
    if (
      entry.uncompressedSize > Math.max(1, entry.compressedSize) * limits.maxRatio &&
      entry.uncompressedSize > 1 << 20
    ) {
      throw new MeshError(
        'ZIP_BOMB',
        `3MF entry "${entry.name}" would expand ${Math.round(entry.uncompressedSize / Math.max(1, entry.compressedSize))}x, over maxCompressionRatio (${limits.maxRatio})`,
      );
    }
    // The cap is the declared size (+1 to notice a lie) and never more than the limit:
    // the real output is bounded whatever the headers say.
    const cap = Math.min(limits.maxEntryBytes, entry.uncompressedSize + 1);
    try {
      out = inflateRawSync(data, { maxOutputLength: Math.max(1, cap) });
    } catch (error) {
      if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
        throw new MeshError(
          'ZIP_BOMB',
          `3MF entry "${entry.name}" inflates past its declared size or maxDecompressedBytes`,
          { cause: error },
        );
      }
      throw bad(`"${entry.name}" does not inflate: ${(error as Error).message}`);
    }
  } else {
    throw bad(
      `"${entry.name}" uses compression method ${entry.method}; only stored and deflate are supported`,
    );
  }
  if (out.length !== entry.uncompressedSize) {
    throw bad(
      `"${entry.name}" inflates to ${out.length} bytes, the directory says ${entry.uncompressedSize}`,
    );
  }
  if (crc32(out) >>> 0 !== entry.crc >>> 0) throw bad(`"${entry.name}" fails its CRC-32 check`);
  return out;
}
