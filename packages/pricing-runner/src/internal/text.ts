// Byte-level tokenising shared by ASCII STL and OBJ. Working on bytes avoids decoding a
// file of hundreds of MB into one string (and V8's string length limit); only number
// tokens are decoded, one at a time, by the exact `Number` parser.

import { MeshError, type MeshErrorCode } from '../errors.js';

export function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a || c === 0x0b || c === 0x0c;
}

export function lineAt(bytes: Uint8Array, pos: number): number {
  let line = 1;
  for (let i = 0; i < pos && i < bytes.length; i++) if (bytes[i] === 0x0a) line++;
  return line;
}

/** Decodes bytes[start, end) as a finite number; the error code names the format's syntax error. */
export function parseNumber(
  bytes: Uint8Array,
  start: number,
  end: number,
  what: string,
  syntaxCode: MeshErrorCode,
): number {
  const text = latin1(bytes, start, end);
  const value = Number(text);
  if (Number.isFinite(value) && text.length > 0) return value;
  if (/^[+-]?(inf(inity)?|nan)$/i.test(text) || value === Infinity || value === -Infinity) {
    throw new MeshError(
      'NON_FINITE',
      `${what} on line ${lineAt(bytes, start)} is "${text}", not a finite number`,
    );
  }
  throw new MeshError(
    syntaxCode,
    `${what} on line ${lineAt(bytes, start)} is "${clip(text)}", not a number`,
  );
}

export function latin1(bytes: Uint8Array, start: number, end: number): string {
  // String.fromCharCode over a short subarray is faster than a TextDecoder call per token.
  if (end - start <= 64) {
    let s = '';
    for (let i = start; i < end; i++) s += String.fromCharCode(bytes[i]!);
    return s;
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('latin1');
}

export function clip(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}...` : text;
}
