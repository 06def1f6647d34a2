// An OTLP/HTTP trace receiver for tests (no OpenTelemetry Collector can be installed here).
// It speaks the JSON encoding @opentelemetry/exporter-trace-otlp-http sends, collects the
// spans flattened, and answers protobuf with 415 so a misconfigured exporter fails loudly.
import type { IncomingHttpHeaders } from 'node:http';
import { listenOnLoopback, readBody, reply, Waiters, type PeerTls } from './http-peer.js';

/** An attribute value after decoding OTLP/JSON's AnyValue. */
export type AttributeValue =
  | string
  | number
  | boolean
  | null
  | readonly AttributeValue[]
  | { readonly [key: string]: AttributeValue };

export interface ReceivedLink {
  readonly traceId: string;
  readonly spanId: string;
  readonly attributes: Readonly<Record<string, AttributeValue>>;
}

/** One span as received, with its resource and scope folded in. Ids are lower-case hex. */
export interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  /** Undefined for a root span. */
  readonly parentSpanId: string | undefined;
  readonly name: string;
  /** OTLP SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  readonly kind: number;
  readonly startTimeUnixNano: string;
  readonly endTimeUnixNano: string;
  readonly attributes: Readonly<Record<string, AttributeValue>>;
  readonly status: { readonly code: number; readonly message?: string };
  readonly links: readonly ReceivedLink[];
  readonly events: readonly {
    readonly name: string;
    readonly attributes: Readonly<Record<string, AttributeValue>>;
  }[];
  readonly resource: Readonly<Record<string, AttributeValue>>;
  /** `service.name` of the resource. */
  readonly serviceName: string | undefined;
  readonly scope: { readonly name: string; readonly version?: string };
}

/** One export request as received. */
export interface ReceivedExport {
  readonly headers: IncomingHttpHeaders;
  readonly spanCount: number;
}

export const SPAN_KIND = { INTERNAL: 1, SERVER: 2, CLIENT: 3, PRODUCER: 4, CONSUMER: 5 } as const;

export interface OtlpReceiver {
  /** Base URL, for OTEL_EXPORTER_OTLP_ENDPOINT (`http://127.0.0.1:<port>`). */
  readonly url: string;
  /** `<url>/v1/traces`, for OTEL_EXPORTER_OTLP_TRACES_ENDPOINT. */
  readonly tracesUrl: string;
  /** Every span received so far, in arrival order (always empty with `keepSpans: false`). */
  readonly spans: readonly ReceivedSpan[];
  /** How many spans were received so far, in either mode. */
  readonly spanCount: number;
  /** Every accepted export request (headers included, to check OTEL_EXPORTER_OTLP_HEADERS). */
  readonly exports: readonly ReceivedExport[];
  /** Requests refused: protobuf, malformed JSON, wrong path, or an injected failure status. */
  readonly rejected: number;
  /**
   * Resolves with all spans received once `predicate(spans)` holds (checked on every export
   * request, not by polling); rejects after `timeoutMs` saying what did arrive.
   */
  waitForSpans(
    predicate: (spans: readonly ReceivedSpan[]) => boolean,
    timeoutMs?: number,
  ): Promise<ReceivedSpan[]>;
  /** Resolves with the first span matching `predicate`. */
  waitForSpan(
    predicate: (span: ReceivedSpan) => boolean,
    timeoutMs?: number,
  ): Promise<ReceivedSpan>;
  /** From now on answer every export with this status (e.g. 503), or normally again with `undefined`. */
  respondWith(status: number | undefined): void;
  /** Forgets the spans and exports received so far. */
  clear(): void;
  close(): Promise<void>;
}

const DEFAULT_TIMEOUT_MS = 15_000;

export interface OtlpReceiverOptions {
  /**
   * Decode and keep every span (`spans`, `waitForSpans`). `false` makes a counting receiver
   * for benchmarks: requests are still checked (path, content type, a JSON
   * ExportTraceServiceRequest whose resourceSpans/scopeSpans/spans are arrays) and their spans
   * counted in `spanCount`, but nothing is decoded or kept, so the receiver takes little CPU
   * from the service under test. Default: true.
   */
  keepSpans?: boolean;
  /** Serve HTTPS with this certificate and key (an endpoint of a managed service). Default: HTTP. */
  tls?: PeerTls;
}

/** Starts a receiver on 127.0.0.1 and a free port. */
export async function startOtlpReceiver(options: OtlpReceiverOptions = {}): Promise<OtlpReceiver> {
  const keepSpans = options.keepSpans ?? true;
  let spans: ReceivedSpan[] = [];
  let spanCount = 0;
  let exports: ReceivedExport[] = [];
  let rejected = 0;
  let failWith: number | undefined;
  const waiters = new Waiters();

  const peer = await listenOnLoopback((request, response) => {
    void (async () => {
      const path = (request.url ?? '/').split('?')[0];
      if (request.method !== 'POST' || path !== '/v1/traces') {
        rejected++;
        reply(response, 404, 'this test receiver takes POST /v1/traces only\n');
        return;
      }
      const contentType = (request.headers['content-type'] ?? '').toLowerCase();
      let body: Buffer;
      try {
        body = await readBody(request);
      } catch (err) {
        rejected++;
        reply(
          response,
          400,
          `cannot read the body: ${err instanceof Error ? err.message : String(err)}\n`,
        );
        return;
      }
      if (!contentType.startsWith('application/json')) {
        rejected++;
        reply(
          response,
          415,
          `this test receiver accepts OTLP/HTTP JSON only (Content-Type: application/json), got "${contentType || 'none'}"; use @opentelemetry/exporter-trace-otlp-http or OTEL_EXPORTER_OTLP_PROTOCOL=http/json\n`,
        );
        return;
      }
      if (failWith !== undefined) {
        rejected++;
        reply(response, failWith, `injected failure ${failWith}\n`);
        return;
      }
      let received: ReceivedSpan[] = [];
      let count: number;
      try {
        const json = JSON.parse(body.toString('utf8')) as unknown;
        if (keepSpans) {
          received = decodeExport(json);
          count = received.length;
        } else {
          count = countSpans(json);
        }
      } catch (err) {
        rejected++;
        reply(
          response,
          400,
          `not an OTLP/JSON ExportTraceServiceRequest: ${err instanceof Error ? err.message : String(err)}\n`,
        );
        return;
      }
      if (keepSpans) spans.push(...received);
      spanCount += count;
      exports.push({ headers: request.headers, spanCount: count });
      reply(response, 200, '{"partialSuccess":{}}', 'application/json');
      waiters.notify();
    })();
  }, options.tls);

  const describeState = (): string =>
    `received ${spans.length} span(s)${spans.length ? `: ${[...new Set(spans.map((s) => s.name))].slice(0, 20).join(', ')}` : ''} in ${exports.length} export(s), ${rejected} rejected`;

  return {
    url: peer.url,
    tracesUrl: `${peer.url}/v1/traces`,
    get spans() {
      return spans;
    },
    get spanCount() {
      return spanCount;
    },
    get exports() {
      return exports;
    },
    get rejected() {
      return rejected;
    },
    waitForSpans(predicate, timeoutMs = DEFAULT_TIMEOUT_MS) {
      return waiters.wait(
        () => (predicate(spans) ? [...spans] : undefined),
        timeoutMs,
        describeState,
        'spans',
      );
    },
    waitForSpan(predicate, timeoutMs = DEFAULT_TIMEOUT_MS) {
      return waiters.wait(() => spans.find(predicate), timeoutMs, describeState, 'a matching span');
    },
    respondWith(status) {
      failWith = status;
    },
    clear() {
      spans = [];
      spanCount = 0;
      exports = [];
      rejected = 0;
    },
    close: () => peer.close(),
  };
}

// --- OTLP/JSON decoding --------------------------------------------------------------------

interface JsonKeyValue {
  key?: string;
  value?: JsonAnyValue;
}
interface JsonAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number | string;
  arrayValue?: { values?: JsonAnyValue[] };
  kvlistValue?: { values?: JsonKeyValue[] };
  bytesValue?: string;
}
interface JsonSpan {
  traceId?: string;
  spanId?: string;
  parentSpanId?: string;
  name?: string;
  kind?: number;
  startTimeUnixNano?: string | number;
  endTimeUnixNano?: string | number;
  attributes?: JsonKeyValue[];
  status?: { code?: number; message?: string };
  links?: { traceId?: string; spanId?: string; attributes?: JsonKeyValue[] }[];
  events?: { name?: string; attributes?: JsonKeyValue[] }[];
}
interface JsonExport {
  resourceSpans?: {
    resource?: { attributes?: JsonKeyValue[] };
    scopeSpans?: { scope?: { name?: string; version?: string }; spans?: JsonSpan[] }[];
  }[];
}

function decodeExport(json: unknown): ReceivedSpan[] {
  if (json === null || typeof json !== 'object') throw new Error('the body is not a JSON object');
  const request = json as JsonExport;
  if (request.resourceSpans !== undefined && !Array.isArray(request.resourceSpans)) {
    throw new Error('resourceSpans is not an array');
  }
  const result: ReceivedSpan[] = [];
  for (const resourceSpans of request.resourceSpans ?? []) {
    const resource = decodeAttributes(resourceSpans.resource?.attributes);
    const serviceName = resource['service.name'];
    for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
      const scope = {
        name: scopeSpans.scope?.name ?? '',
        ...(scopeSpans.scope?.version !== undefined ? { version: scopeSpans.scope.version } : {}),
      };
      for (const span of scopeSpans.spans ?? []) {
        const parent = decodeId(span.parentSpanId);
        result.push({
          traceId: decodeId(span.traceId),
          spanId: decodeId(span.spanId),
          parentSpanId: parent === '' ? undefined : parent,
          name: span.name ?? '',
          kind: span.kind ?? 0,
          startTimeUnixNano: String(span.startTimeUnixNano ?? '0'),
          endTimeUnixNano: String(span.endTimeUnixNano ?? '0'),
          attributes: decodeAttributes(span.attributes),
          status: {
            code: span.status?.code ?? 0,
            ...(span.status?.message ? { message: span.status.message } : {}),
          },
          links: (span.links ?? []).map((link) => ({
            traceId: decodeId(link.traceId),
            spanId: decodeId(link.spanId),
            attributes: decodeAttributes(link.attributes),
          })),
          events: (span.events ?? []).map((event) => ({
            name: event.name ?? '',
            attributes: decodeAttributes(event.attributes),
          })),
          resource,
          serviceName: typeof serviceName === 'string' ? serviceName : undefined,
          scope,
        });
      }
    }
  }
  return result;
}

/** The spans of an ExportTraceServiceRequest, counted after checking its shape. */
function countSpans(json: unknown): number {
  if (json === null || typeof json !== 'object') throw new Error('the body is not a JSON object');
  const resourceSpans = (json as JsonExport).resourceSpans ?? [];
  if (!Array.isArray(resourceSpans)) throw new Error('resourceSpans is not an array');
  let count = 0;
  for (const resource of resourceSpans) {
    const scopeSpans = resource.scopeSpans ?? [];
    if (!Array.isArray(scopeSpans)) throw new Error('scopeSpans is not an array');
    for (const scope of scopeSpans) {
      const spans = scope.spans ?? [];
      if (!Array.isArray(spans)) throw new Error('spans is not an array');
      count += spans.length;
    }
  }
  return count;
}

/** OTLP/JSON ids are hex; some encoders send protobuf-JSON base64 instead. Both become hex. */
function decodeId(id: string | undefined): string {
  if (!id) return '';
  if (/^[0-9a-f]+$/i.test(id) && (id.length === 32 || id.length === 16)) return id.toLowerCase();
  return Buffer.from(id, 'base64').toString('hex');
}

function decodeAttributes(attributes: JsonKeyValue[] | undefined): Record<string, AttributeValue> {
  const result: Record<string, AttributeValue> = {};
  for (const { key, value } of attributes ?? []) {
    if (key !== undefined) result[key] = decodeValue(value);
  }
  return result;
}

function decodeValue(value: JsonAnyValue | undefined): AttributeValue {
  if (value === undefined) return null;
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return Number(value.doubleValue);
  if (value.arrayValue !== undefined) return (value.arrayValue.values ?? []).map(decodeValue);
  if (value.kvlistValue !== undefined) return decodeAttributes(value.kvlistValue.values);
  if (value.bytesValue !== undefined) return value.bytesValue;
  return null;
}
