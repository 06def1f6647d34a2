// OTLP/JSON encoding of the span records the main thread hands to the export worker
// (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding: hex ids, nanosecond
// times as strings, attributes as KeyValue lists). Pure: no I/O, no SDK.

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

export interface ExportBatch {
  readonly resource: AttributeRecord;
  readonly spans: readonly SpanRecord[];
}

/**
 * The ExportTraceServiceRequest of a batch, in OTLP/JSON (hex ids, nanosecond strings). The
 * text is written directly rather than built as objects for JSON.stringify (half the export
 * thread's CPU was the intermediate objects), and fields at their proto3 default (empty lists,
 * zero counts, UNSET status) are left out as the proto3 JSON mapping allows, which also halves
 * what the collector has to parse.
 */
export function encodeBatch(batch: ExportBatch): string {
  const scopes = new Map<string, string[]>();
  for (const span of batch.spans) {
    const key = `${span.scopeName}\0${span.scopeVersion ?? ''}`;
    let spans = scopes.get(key);
    if (spans === undefined) {
      spans = [];
      scopes.set(key, spans);
    }
    spans.push(encodeSpan(span));
  }
  const scopeSpans: string[] = [];
  for (const [key, spans] of scopes) {
    const [name, version] = key.split('\0') as [string, string];
    const scope =
      version === ''
        ? `{"name":${JSON.stringify(name)}}`
        : `{"name":${JSON.stringify(name)},"version":${JSON.stringify(version)}}`;
    scopeSpans.push(`{"scope":${scope},"spans":[${spans.join(',')}]}`);
  }
  return `{"resourceSpans":[{"resource":{"attributes":${keyValues(batch.resource)}},"scopeSpans":[${scopeSpans.join(',')}]}]}`;
}

function encodeSpan(span: SpanRecord): string {
  let json = `{"traceId":"${span.traceId}","spanId":"${span.spanId}"`;
  if (span.parentSpanId !== undefined) json += `,"parentSpanId":"${span.parentSpanId}"`;
  if (span.traceState !== undefined && span.traceState !== '')
    json += `,"traceState":${JSON.stringify(span.traceState)}`;
  json += `,"name":${JSON.stringify(span.name)},"kind":${span.kind + 1},"startTimeUnixNano":"${nanos(span.start)}","endTimeUnixNano":"${nanos(span.end)}","attributes":${keyValues(span.attributes)}`;
  if (span.droppedAttributesCount > 0)
    json += `,"droppedAttributesCount":${span.droppedAttributesCount}`;
  if (span.events.length > 0) {
    const events = span.events.map((event) => {
      let text = `{"timeUnixNano":"${nanos(event.time)}","name":${JSON.stringify(event.name)},"attributes":${keyValues(event.attributes)}`;
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
        text += `,"traceState":${JSON.stringify(link.traceState)}`;
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
      ? `,"status":{"code":${span.statusCode},"message":${JSON.stringify(span.statusMessage)}}`
      : `,"status":{"code":${span.statusCode}}`;
  }
  return `${json}}`;
}

/** Epoch milliseconds as OTLP's uint64 nanoseconds, as a string (beyond 2^53 as a number). */
export function nanos(epochMs: number): string {
  let seconds = Math.floor(epochMs / 1000);
  let nanoseconds = Math.round((epochMs - seconds * 1000) * 1e6);
  if (nanoseconds >= 1e9) {
    seconds++;
    nanoseconds -= 1e9;
  }
  if (seconds === 0) return String(nanoseconds);
  return `${seconds}${String(nanoseconds).padStart(9, '0')}`;
}

/** A KeyValue list as JSON text; values OTLP cannot carry (objects, functions) are left out. */
function keyValues(attributes: AttributeRecord | undefined): string {
  if (attributes === undefined) return '[]';
  let json = '';
  for (const key in attributes) {
    const value = anyValue(attributes[key]);
    if (value === undefined) continue;
    json += `${json === '' ? '' : ','}{"key":${JSON.stringify(key)},"value":${value}}`;
  }
  return `[${json}]`;
}

function anyValue(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
      return `{"stringValue":${JSON.stringify(value)}}`;
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
