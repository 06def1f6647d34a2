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
  readonly start: readonly [number, number];
  readonly end: readonly [number, number];
  readonly attributes: AttributeRecord;
  readonly droppedAttributesCount: number;
  readonly events: readonly {
    readonly name: string;
    readonly time: readonly [number, number];
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

/** The ExportTraceServiceRequest of a batch, in OTLP/JSON (hex ids, nanosecond strings). */
export function encodeBatch(batch: ExportBatch): string {
  const scopes = new Map<string, { scope: { name: string; version?: string }; spans: unknown[] }>();
  for (const span of batch.spans) {
    const key = `${span.scopeName}\0${span.scopeVersion ?? ''}`;
    let scope = scopes.get(key);
    if (scope === undefined) {
      scope = {
        scope: {
          name: span.scopeName,
          ...(span.scopeVersion !== undefined ? { version: span.scopeVersion } : {}),
        },
        spans: [],
      };
      scopes.set(key, scope);
    }
    scope.spans.push({
      traceId: span.traceId,
      spanId: span.spanId,
      ...(span.parentSpanId !== undefined ? { parentSpanId: span.parentSpanId } : {}),
      ...(span.traceState !== undefined ? { traceState: span.traceState } : {}),
      name: span.name,
      kind: span.kind + 1,
      startTimeUnixNano: nanos(span.start),
      endTimeUnixNano: nanos(span.end),
      attributes: keyValues(span.attributes),
      droppedAttributesCount: span.droppedAttributesCount,
      events: span.events.map((event) => ({
        timeUnixNano: nanos(event.time),
        name: event.name,
        attributes: keyValues(event.attributes),
        droppedAttributesCount: event.droppedAttributesCount,
      })),
      droppedEventsCount: span.droppedEventsCount,
      status: {
        code: span.statusCode,
        ...(span.statusMessage ? { message: span.statusMessage } : {}),
      },
      links: span.links.map((link) => ({
        traceId: link.traceId,
        spanId: link.spanId,
        ...(link.traceState !== undefined ? { traceState: link.traceState } : {}),
        attributes: keyValues(link.attributes),
        droppedAttributesCount: link.droppedAttributesCount,
      })),
      droppedLinksCount: span.droppedLinksCount,
    });
  }
  return JSON.stringify({
    resourceSpans: [
      {
        resource: { attributes: keyValues(batch.resource), droppedAttributesCount: 0 },
        scopeSpans: [...scopes.values()],
      },
    ],
  });
}

/** HrTime as OTLP's uint64 nanoseconds, as a string (beyond 2^53 as a number). */
function nanos([seconds, nanoseconds]: readonly [number, number]): string {
  if (seconds === 0) return String(nanoseconds);
  return `${seconds}${String(nanoseconds).padStart(9, '0')}`;
}

function keyValues(attributes: AttributeRecord | undefined): unknown[] {
  const list: unknown[] = [];
  if (attributes === undefined) return list;
  for (const key in attributes) {
    const value = anyValue(attributes[key]);
    if (value !== undefined) list.push({ key, value });
  }
  return list;
}

function anyValue(value: unknown): unknown {
  switch (typeof value) {
    case 'string':
      return { stringValue: value };
    case 'boolean':
      return { boolValue: value };
    case 'number':
      return Number.isInteger(value) ? { intValue: value } : { doubleValue: value };
    case 'bigint':
      return { intValue: value.toString() };
    case 'object':
      if (Array.isArray(value)) {
        return { arrayValue: { values: value.map((item) => anyValue(item) ?? {}) } };
      }
      return undefined;
    default:
      return undefined;
  }
}
