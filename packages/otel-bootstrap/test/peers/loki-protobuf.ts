// Loki's protobuf push body (what Promtail and Alloy send): a snappy-compressed (block format)
// `logproto.PushRequest`. Decoded here, for the VictoriaLogs receiver, as VictoriaLogs decodes
// it (app/vlinsert/loki/pb.go): unknown fields skipped, labels in Prometheus' `{k="v"}` text,
// a missing labels string or metadata name refused. A test peer needs no dependency for this:
// snappy's block format and protobuf's wire format are small enough to read directly.
import { PushRefused, receivedLine, type DecodedPush, type ReceivedLine } from './push-receiver.js';

/** The snappy block format (https://github.com/google/snappy/blob/main/format_description.txt). */
export function snappyDecompress(input: Buffer): Buffer {
  const reader = new Reader(input);
  const length = reader.varint();
  const output = Buffer.alloc(length);
  let written = 0;
  while (!reader.done()) {
    const tag = reader.byte();
    let size: number;
    let offset: number;
    switch (tag & 3) {
      case 0: {
        size = tag >> 2;
        if (size >= 60) size = reader.littleEndian(size - 59);
        size += 1;
        const literal = reader.bytes(size);
        if (written + size > length) throw new Error('snappy: literal past the stated length');
        literal.copy(output, written);
        written += size;
        continue;
      }
      case 1:
        size = 4 + ((tag >> 2) & 7);
        offset = ((tag >> 5) << 8) | reader.byte();
        break;
      case 2:
        size = 1 + (tag >> 2);
        offset = reader.littleEndian(2);
        break;
      default:
        size = 1 + (tag >> 2);
        offset = reader.littleEndian(4);
    }
    if (offset === 0 || offset > written) throw new Error('snappy: copy offset out of range');
    if (written + size > length) throw new Error('snappy: copy past the stated length');
    // Byte by byte: a copy may overlap what it writes (a run).
    for (let i = 0; i < size; i++, written++) output[written] = output[written - offset] ?? 0;
  }
  if (written !== length)
    throw new Error(`snappy: got ${written} bytes, the header says ${length}`);
  return output;
}

/** The lines of a decompressed PushRequest; throws PushRefused (400) saying what is wrong. */
export function decodeProtobufPush(body: Buffer): DecodedPush {
  const received: ReceivedLine[] = [];
  let streamCount = 0;
  try {
    // message PushRequest { repeated Stream streams = 1; }
    for (const field of fields(body)) {
      if (field.number !== 1) continue;
      streamCount++;
      received.push(...decodeStream(messageOf(field, 'Stream')));
    }
  } catch (err) {
    throw new PushRefused(
      400,
      `cannot decode PushRequest: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  return { received, streamCount };
}

function decodeStream(data: Buffer): ReceivedLine[] {
  // message Stream { string labels = 1; repeated Entry entries = 2; uint64 hash = 3; }
  let labelsText: string | undefined;
  const entries: Buffer[] = [];
  for (const field of fields(data)) {
    if (field.number === 1) labelsText = textOf(field, 'labels');
    else if (field.number === 2) entries.push(messageOf(field, 'Entry'));
  }
  if (labelsText === undefined) throw new Error('missing labels');
  const labels = parsePromLabels(labelsText);
  return entries.map((entry) => decodeEntry(entry, labels));
}

function decodeEntry(data: Buffer, labels: Record<string, string>): ReceivedLine {
  // message Entry { Timestamp timestamp = 1; string line = 2; repeated LabelPair structuredMetadata = 3; }
  let timestampNs = 0n;
  let line = '';
  const metadata: Record<string, string> = {};
  let hasMetadata = false;
  for (const field of fields(data)) {
    if (field.number === 1) timestampNs = decodeTimestamp(messageOf(field, 'Timestamp'));
    else if (field.number === 2) line = textOf(field, 'line');
    else if (field.number === 3) {
      // message LabelPair { string name = 1; string value = 2; }
      let name: string | undefined;
      let value: string | undefined;
      for (const pair of fields(messageOf(field, 'structuredMetadata'))) {
        if (pair.number === 1) name = textOf(pair, 'name');
        else if (pair.number === 2) value = textOf(pair, 'value');
      }
      if (name === undefined) throw new Error('structured metadata: missing name');
      if (value === undefined) throw new Error('structured metadata: missing value');
      if (name !== '' && value !== '') {
        metadata[name] = value;
        hasMetadata = true;
      }
    }
  }
  return receivedLine(labels, timestampNs.toString(), line, hasMetadata ? metadata : undefined);
}

function decodeTimestamp(data: Buffer): bigint {
  // google.protobuf.Timestamp { int64 seconds = 1; int32 nanos = 2; }
  let seconds = 0n;
  let nanos = 0n;
  for (const field of fields(data)) {
    if (field.number === 1) seconds = BigInt.asIntN(64, varintOf(field, 'seconds'));
    else if (field.number === 2) nanos = BigInt.asIntN(32, varintOf(field, 'nanos'));
  }
  return seconds * 1_000_000_000n + nanos;
}

/** `{name="value", other="v"}` as VictoriaLogs' parsePromLabels reads it (values JSON-escaped). */
export function parsePromLabels(text: string): Record<string, string> {
  let rest = text.trim();
  if (rest.length < 2 || !rest.startsWith('{') || !rest.endsWith('}')) {
    throw new Error(`labels ${JSON.stringify(text)} are not wrapped in {...}`);
  }
  rest = rest.slice(1, -1);
  const labels: Record<string, string> = {};
  while (rest.length > 0) {
    const equals = rest.indexOf('=');
    if (equals < 0) throw new Error(`cannot find = for a label value at ${JSON.stringify(rest)}`);
    const name = rest.slice(0, equals).trim();
    rest = rest.slice(equals + 1);
    const quoted = /^"(?:[^"\\]|\\.)*"/.exec(rest)?.[0];
    if (quoted === undefined) throw new Error(`cannot parse the value of label ${name}`);
    labels[name] = JSON.parse(quoted) as string;
    rest = rest.slice(quoted.length);
    if (rest.length === 0) break;
    if (!rest.startsWith(',')) throw new Error(`missing , at ${JSON.stringify(rest)}`);
    rest = rest.slice(1);
  }
  return labels;
}

// --- protobuf wire format ------------------------------------------------------------------

interface Field {
  readonly number: number;
  readonly wireType: number;
  readonly varint?: bigint;
  readonly data?: Buffer;
}

function* fields(message: Buffer): Generator<Field> {
  const reader = new Reader(message);
  while (!reader.done()) {
    const key = Number(reader.bigVarint());
    const number = key >>> 3;
    const wireType = key & 7;
    if (number === 0) throw new Error('field number 0');
    switch (wireType) {
      case 0:
        yield { number, wireType, varint: reader.bigVarint() };
        break;
      case 1:
        yield { number, wireType, data: reader.bytes(8) };
        break;
      case 2:
        yield { number, wireType, data: reader.bytes(reader.varint()) };
        break;
      case 5:
        yield { number, wireType, data: reader.bytes(4) };
        break;
      default:
        throw new Error(`unsupported wire type ${wireType} of field ${number}`);
    }
  }
}

function messageOf(field: Field, what: string): Buffer {
  if (field.wireType !== 2 || field.data === undefined) throw new Error(`cannot read ${what} data`);
  return field.data;
}

function textOf(field: Field, what: string): string {
  return messageOf(field, what).toString('utf8');
}

function varintOf(field: Field, what: string): bigint {
  if (field.wireType !== 0 || field.varint === undefined) throw new Error(`cannot read ${what}`);
  return field.varint;
}

class Reader {
  #position = 0;
  readonly #buffer: Buffer;

  constructor(buffer: Buffer) {
    this.#buffer = buffer;
  }

  done(): boolean {
    return this.#position >= this.#buffer.length;
  }

  byte(): number {
    const value = this.#buffer[this.#position];
    if (value === undefined) throw new Error('unexpected end of data');
    this.#position++;
    return value;
  }

  bytes(count: number): Buffer {
    if (this.#position + count > this.#buffer.length) throw new Error('unexpected end of data');
    const slice = this.#buffer.subarray(this.#position, this.#position + count);
    this.#position += count;
    return slice;
  }

  bigVarint(): bigint {
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      const value = this.byte();
      result |= BigInt(value & 0x7f) << shift;
      if ((value & 0x80) === 0) return result;
    }
    throw new Error('varint longer than 10 bytes');
  }

  varint(): number {
    const value = this.bigVarint();
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error('length out of range');
    return Number(value);
  }

  littleEndian(count: number): number {
    let value = 0;
    for (let i = 0; i < count; i++) value += this.byte() * 2 ** (8 * i);
    return value;
  }
}
