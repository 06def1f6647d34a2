// OTLP/JSON encoding (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding: hex
// ids, nanosecond times as strings, attributes as KeyValue lists): of ended spans, on the main
// thread (OtlpBatchEncoder), and of the request around them, in the export worker
// (requestBody). Pure: no I/O, no SDK.

export type AttributeRecord = Record<string, unknown>;

/** What the main thread keeps of an ended span: structured-cloneable, nothing else. */
export interface SpanRecord {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string | undefined;
  readonly traceState: string | undefined;
  readonly name: string;
  /** @opentelemetry/api SpanKind (OTLP's is one more). */
  readonly kind: number;
  /** Epoch milliseconds (fractional: a double keeps them to a fraction of a microsecond). */
  readonly start: number;
  readonly end: number;
  readonly attributes: AttributeRecord;
  readonly droppedAttributesCount: number;
  readonly events: readonly {
    readonly name: string;
    readonly time: number;
    readonly attributes: AttributeRecord | undefined;
    readonly droppedAttributesCount: number;
  }[];
  readonly droppedEventsCount: number;
  readonly links: readonly {
    readonly traceId: string;
    readonly spanId: string;
    readonly traceState: string | undefined;
    readonly attributes: AttributeRecord | undefined;
    readonly droppedAttributesCount: number;
  }[];
  readonly droppedLinksCount: number;
  readonly statusCode: number;
  readonly statusMessage: string | undefined;
  readonly scopeName: string;
  readonly scopeVersion: string | undefined;
}

/** Spans already written as OTLP/JSON bytes, grouped by instrumentation scope. */
export interface EncodedBatch {
  readonly spans: number;
  readonly scopes: readonly {
    /** The InstrumentationScope as JSON text. */
    readonly scope: string;
    /** The scope's spans as comma-separated JSON objects, UTF-8; a view from offset 0 of an ArrayBuffer of its own (transferable). */
    readonly spansJson: Uint8Array;
  }[];
}

const INITIAL_SCOPE_BYTES = 64 * 1024;

interface ScopeBuffer {
  readonly name: string;
  readonly version: string | undefined;
  bytes: Buffer;
  length: number;
}

/**
 * Writes ended spans as OTLP/JSON straight into one growing byte buffer per scope, so a
 * batch crosses to the export thread as transferred bytes: on the main thread that costs
 * about what structured-cloning the records did, and the export thread no longer decodes
 * and re-encodes them (12 us per span there before, docs/benchmarks.md).
 */
export class OtlpBatchEncoder {
  #scopes: ScopeBuffer[] = [];
  #spans = 0;
  #bytes = 0;

  /** Spans written since the last take(). */
  get spans(): number {
    return this.#spans;
  }

  /** Bytes written since the last take(). */
  get bytes(): number {
    return this.#bytes;
  }

  add(span: SpanRecord): void {
    // A batch holds a handful of scopes: a linear search beats a key string per span.
    let scope: ScopeBuffer | undefined;
    for (const candidate of this.#scopes) {
      if (candidate.name === span.scopeName && candidate.version === span.scopeVersion) {
        scope = candidate;
        break;
      }
    }
    if (scope === undefined) {
      scope = {
        name: span.scopeName,
        version: span.scopeVersion,
        // Not from Buffer's shared pool: the batch's ArrayBuffer is transferred.
        bytes: Buffer.allocUnsafeSlow(INITIAL_SCOPE_BYTES),
        length: 0,
      };
      this.#scopes.push(scope);
    }
    const json = encodeSpan(span);
    // UTF-8 takes at most 3 bytes per UTF-16 unit; one more for the separating comma.
    const needed = scope.length + json.length * 3 + 1;
    if (needed > scope.bytes.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(needed, scope.bytes.length * 2));
      scope.bytes.copy(grown, 0, 0, scope.length);
      scope.bytes = grown;
    }
    const before = scope.length;
    if (scope.length > 0) scope.bytes[scope.length++] = COMMA;
    scope.length += scope.bytes.write(json, scope.length, 'utf8');
    this.#spans++;
    this.#bytes += scope.length - before;
  }

  /** The spans written so far (undefined when none); the encoder starts empty again. */
  take(): EncodedBatch | undefined {
    if (this.#spans === 0) return undefined;
    const batch: EncodedBatch = {
      spans: this.#spans,
      scopes: this.#scopes.map((scope) => ({
        scope:
          scope.version === undefined || scope.version === ''
            ? `{"name":${jsonString(scope.name)}}`
            : `{"name":${jsonString(scope.name)},"version":${jsonString(scope.version)}}`,
        // A view from offset 0 on the scope's own ArrayBuffer, which is transferred whole.
        spansJson: scope.bytes.subarray(0, scope.length),
      })),
    };
    this.#scopes = [];
    this.#spans = 0;
    this.#bytes = 0;
    return batch;
  }
}

const COMMA = 0x2c;

/** The ExportTraceServiceRequest body of an encoded batch. */
export function requestBody(resource: AttributeRecord, batch: EncodedBatch): Buffer {
  const parts: Uint8Array[] = [
    Buffer.from(
      `{"resourceSpans":[{"resource":{"attributes":${keyValues(resource)}},"scopeSpans":[`,
    ),
  ];
  batch.scopes.forEach(({ scope, spansJson }, index) => {
    parts.push(Buffer.from(`${index === 0 ? '' : ','}{"scope":${scope},"spans":[`), spansJson);
    parts.push(Buffer.from(']}'));
  });
  parts.push(Buffer.from(']}]}'));
  return Buffer.concat(parts);
}

/**
 * One span as OTLP/JSON (hex ids, nanosecond strings), written as text rather than objects for
 * JSON.stringify; fields at their proto3 default (empty lists, zero counts, UNSET status) are
 * left out as the proto3 JSON mapping allows, which also halves what the collector parses.
 * Attribute keys repeat in every span, so their encoded prefix is cached, and plain ASCII
 * strings skip JSON.stringify.
 */
function encodeSpan(span: SpanRecord): string {
  let json = `{"traceId":"${span.traceId}","spanId":"${span.spanId}"`;
  if (span.parentSpanId !== undefined) json += `,"parentSpanId":"${span.parentSpanId}"`;
  if (span.traceState !== undefined && span.traceState !== '')
    json += `,"traceState":${jsonString(span.traceState)}`;
  json += `,"name":${jsonString(span.name)},"kind":${span.kind + 1},"startTimeUnixNano":"${nanos(span.start)}","endTimeUnixNano":"${nanos(span.end)}","attributes":${keyValues(span.attributes)}`;
  if (span.droppedAttributesCount > 0)
    json += `,"droppedAttributesCount":${span.droppedAttributesCount}`;
  if (span.events.length > 0) {
    const events = span.events.map((event) => {
      let text = `{"timeUnixNano":"${nanos(event.time)}","name":${jsonString(event.name)},"attributes":${keyValues(event.attributes)}`;
      if (event.droppedAttributesCount > 0)
        text += `,"droppedAttributesCount":${event.droppedAttributesCount}`;
      return `${text}}`;
    });
    json += `,"events":[${events.join(',')}]`;
  }
  if (span.droppedEventsCount > 0) json += `,"droppedEventsCount":${span.droppedEventsCount}`;
  if (span.links.length > 0) {
    const links = span.links.map((link) => {
      let text = `{"traceId":"${link.traceId}","spanId":"${link.spanId}"`;
      if (link.traceState !== undefined && link.traceState !== '')
        text += `,"traceState":${jsonString(link.traceState)}`;
      text += `,"attributes":${keyValues(link.attributes)}`;
      if (link.droppedAttributesCount > 0)
        text += `,"droppedAttributesCount":${link.droppedAttributesCount}`;
      return `${text}}`;
    });
    json += `,"links":[${links.join(',')}]`;
  }
  if (span.droppedLinksCount > 0) json += `,"droppedLinksCount":${span.droppedLinksCount}`;
  if (span.statusCode !== 0) {
    json += span.statusMessage
      ? `,"status":{"code":${span.statusCode},"message":${jsonString(span.statusMessage)}}`
      : `,"status":{"code":${span.statusCode}}`;
  }
  return `${json}}`;
}

const NANO_PADDING = ['00000', '0000', '000', '00', '0', ''];

/** Epoch milliseconds as OTLP's uint64 nanoseconds, as a string (beyond 2^53 as a number). */
export function nanos(epochMs: number): string {
  let millis = Math.floor(epochMs);
  // Nanoseconds within the millisecond: six digits.
  let sub = Math.round((epochMs - millis) * 1e6);
  if (sub >= 1e6) {
    millis++;
    sub -= 1e6;
  }
  if (millis === 0) return String(sub);
  const digits = sub < 10 ? 1 : sub < 100 ? 2 : sub < 1e3 ? 3 : sub < 1e4 ? 4 : sub < 1e5 ? 5 : 6;
  return `${millis}${NANO_PADDING[digits - 1]!}${sub}`;
}

// Printable ASCII without '"' and '\\': such a string is its own JSON body.
const PLAIN_ASCII = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** A string as JSON text; JSON.stringify only when something needs escaping or is not ASCII. */
function jsonString(text: string): string {
  return text.length <= 512 && PLAIN_ASCII.test(text) ? `"${text}"` : JSON.stringify(text);
}

// `{"key":"<key>","value":{` per attribute key, bounded: keys come from instrumentations and
// repeat in every span, but nothing stops an application from inventing them per request.
const KEY_PREFIXES = new Map<string, string>();
const KEY_PREFIX_CACHE_SIZE = 2048;

function keyPrefix(key: string): string {
  let prefix = KEY_PREFIXES.get(key);
  if (prefix === undefined) {
    prefix = `{"key":${jsonString(key)},"value":`;
    if (KEY_PREFIXES.size < KEY_PREFIX_CACHE_SIZE) KEY_PREFIXES.set(key, prefix);
  }
  return prefix;
}

/** A KeyValue list as JSON text; values OTLP cannot carry (objects, functions) are left out. */
function keyValues(attributes: AttributeRecord | undefined): string {
  if (attributes === undefined) return '[]';
  let json = '[';
  for (const key in attributes) {
    const value = attributes[key];
    let encoded: string;
    // Strings first and inline: nearly every attribute is one.
    if (typeof value === 'string') {
      encoded = `{"stringValue":${jsonString(value)}}}`;
    } else {
      const other = anyValue(value);
      if (other === undefined) continue;
      encoded = `${other}}`;
    }
    json += json.length === 1 ? keyPrefix(key) + encoded : `,${keyPrefix(key)}${encoded}`;
  }
  return `${json}]`;
}

function anyValue(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
      return `{"stringValue":${jsonString(value)}}`;
    case 'boolean':
      return `{"boolValue":${value}}`;
    case 'number':
      if (Number.isInteger(value)) return `{"intValue":${value}}`;
      // JSON has no NaN or infinities; protobuf JSON spells them as strings.
      return Number.isFinite(value)
        ? `{"doubleValue":${value}}`
        : `{"doubleValue":"${Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity'}"}`;
    case 'bigint':
      return `{"intValue":"${value.toString()}"}`;
    case 'object':
      if (Array.isArray(value)) {
        return `{"arrayValue":{"values":[${value.map((item) => anyValue(item) ?? '{}').join(',')}]}}`;
      }
      return undefined;
    default:
      return undefined;
  }
}
