// A Zipkin v2 span receiver for tests (no Zipkin server is installable here). It serves
// `POST /api/v2/spans` with a JSON body and checks each span as Zipkin's v2 JSON decoder
// checks it (zipkin2.internal.V2SpanReader and Span.Builder): traceId 16 or 32 lower-case hex
// digits, id 16, parentId 16 when present and never equal to id, kind one of the four names,
// timestamp and duration in integer microseconds, string tags, annotations with a timestamp
// and a value, localEndpoint.serviceName lower case. A body that breaks any of these is
// answered 400 with the reason, as Zipkin answers it; the spans of an accepted body are kept.
import { listenOnLoopback, readBody, reply, Waiters } from './http-peer.js';

/** One span as Zipkin stores it (the v2 model). */
export interface ZipkinSpan {
  readonly traceId: string;
  readonly id: string;
  readonly parentId?: string;
  readonly name?: string;
  readonly kind?: 'CLIENT' | 'SERVER' | 'PRODUCER' | 'CONSUMER';
  /** Epoch microseconds. */
  readonly timestamp?: number;
  /** Microseconds. */
  readonly duration?: number;
  readonly localEndpoint?: { readonly serviceName?: string };
  readonly remoteEndpoint?: Record<string, unknown>;
  readonly tags: Readonly<Record<string, string>>;
  readonly annotations: readonly { readonly timestamp: number; readonly value: string }[];
}

export interface ZipkinReceiver {
  /** `<base>/api/v2/spans`, for OTEL_EXPORTER_ZIPKIN_ENDPOINT. */
  readonly spansUrl: string;
  /** Every span accepted so far, in arrival order. */
  readonly spans: readonly ZipkinSpan[];
  /** Requests refused, with Zipkin's reason. */
  readonly rejections: readonly string[];
  /** Resolves with all spans once `predicate(spans)` holds (checked per request). */
  waitForSpans(
    predicate: (spans: readonly ZipkinSpan[]) => boolean,
    timeoutMs?: number,
  ): Promise<ZipkinSpan[]>;
  close(): Promise<void>;
}

const DEFAULT_TIMEOUT_MS = 15_000;
const PATH = '/api/v2/spans';
const KINDS = new Set(['CLIENT', 'SERVER', 'PRODUCER', 'CONSUMER']);
const HEX = /^[0-9a-f]+$/;

/** Starts a receiver on 127.0.0.1 and a free port. */
export async function startZipkinReceiver(): Promise<ZipkinReceiver> {
  const spans: ZipkinSpan[] = [];
  const rejections: string[] = [];
  const waiters = new Waiters();
  const reject = (response: Parameters<typeof reply>[0], status: number, why: string) => {
    rejections.push(why);
    reply(response, status, `${why}\n`);
  };

  const peer = await listenOnLoopback((request, response) => {
    void (async () => {
      const path = (request.url ?? '/').split('?')[0];
      if (request.method !== 'POST' || path !== PATH) {
        reject(
          response,
          404,
          `this receiver takes POST ${PATH} only, got ${request.method} ${path}`,
        );
        return;
      }
      const contentType = (request.headers['content-type'] ?? '').toLowerCase();
      if (!contentType.startsWith('application/json')) {
        reject(response, 415, `expected Content-Type application/json, got "${contentType}"`);
        return;
      }
      let received: ZipkinSpan[];
      try {
        received = decodeSpans(JSON.parse((await readBody(request)).toString('utf8')));
      } catch (err) {
        reject(response, 400, `Expected a JSON_V2 encoded list: ${(err as Error).message}`);
        return;
      }
      spans.push(...received);
      response.writeHead(202).end();
      waiters.notify();
    })();
  });

  const describeState = (): string =>
    `received ${spans.length} span(s)${spans.length ? `: ${[...new Set(spans.map((s) => s.name))].slice(0, 20).join(', ')}` : ''}, ${rejections.length} rejected${rejections.length ? ` (${rejections.at(-1)})` : ''}`;

  return {
    spansUrl: `${peer.url}${PATH}`,
    get spans() {
      return spans;
    },
    get rejections() {
      return rejections;
    },
    waitForSpans(predicate, timeoutMs = DEFAULT_TIMEOUT_MS) {
      return waiters.wait(
        () => (predicate(spans) ? [...spans] : undefined),
        timeoutMs,
        describeState,
        'Zipkin spans',
      );
    },
    close: () => peer.close(),
  };
}

/** A JSON_V2 list of spans, checked field by field; throws with the first problem. */
export function decodeSpans(json: unknown): ZipkinSpan[] {
  if (!Array.isArray(json)) throw new Error('the body is not a JSON array');
  return json.map((value, index) => {
    try {
      return decodeSpan(value);
    } catch (err) {
      throw new Error(`span ${index}: ${(err as Error).message}`, { cause: err });
    }
  });
}

function decodeSpan(value: unknown): ZipkinSpan {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new Error('not an object');
  const span = value as Record<string, unknown>;
  const traceId = id(span['traceId'], 'traceId', [16, 32]);
  const spanId = id(span['id'], 'id', [16]);
  const parentId =
    span['parentId'] === undefined ? undefined : id(span['parentId'], 'parentId', [16]);
  if (parentId === spanId) throw new Error(`circular dependency: parentId equals id ${spanId}`);
  const kind = span['kind'];
  if (kind !== undefined && (typeof kind !== 'string' || !KINDS.has(kind)))
    throw new Error(`kind ${JSON.stringify(kind)} is not CLIENT, SERVER, PRODUCER or CONSUMER`);
  const timestamp = micros(span['timestamp'], 'timestamp');
  const duration = micros(span['duration'], 'duration');
  const name = span['name'];
  if (name !== undefined && typeof name !== 'string') throw new Error('name is not a string');
  const local = span['localEndpoint'];
  let localEndpoint: ZipkinSpan['localEndpoint'];
  if (local !== undefined) {
    if (local === null || typeof local !== 'object')
      throw new Error('localEndpoint is not an object');
    const serviceName = (local as { serviceName?: unknown }).serviceName;
    if (serviceName !== undefined && typeof serviceName !== 'string')
      throw new Error('localEndpoint.serviceName is not a string');
    // Zipkin lower-cases service names on read; a mixed-case one would not be found again.
    localEndpoint = serviceName === undefined ? {} : { serviceName: serviceName.toLowerCase() };
  }
  const tags: Record<string, string> = {};
  const rawTags = span['tags'];
  if (rawTags !== undefined) {
    if (rawTags === null || typeof rawTags !== 'object') throw new Error('tags is not an object');
    for (const [key, tag] of Object.entries(rawTags)) {
      if (typeof tag !== 'string') throw new Error(`tag ${key} is not a string`);
      tags[key] = tag;
    }
  }
  const annotations: { timestamp: number; value: string }[] = [];
  const rawAnnotations = span['annotations'];
  if (rawAnnotations !== undefined) {
    if (!Array.isArray(rawAnnotations)) throw new Error('annotations is not an array');
    for (const annotation of rawAnnotations as { timestamp?: unknown; value?: unknown }[]) {
      const at = micros(annotation?.timestamp, 'annotation timestamp');
      if (at === undefined || typeof annotation.value !== 'string')
        throw new Error('an annotation needs a timestamp and a string value');
      annotations.push({ timestamp: at, value: annotation.value });
    }
  }
  return {
    traceId,
    id: spanId,
    ...(parentId !== undefined ? { parentId } : {}),
    ...(name !== undefined ? { name } : {}),
    ...(kind !== undefined ? { kind: kind as ZipkinSpan['kind'] } : {}),
    ...(timestamp !== undefined ? { timestamp } : {}),
    ...(duration !== undefined ? { duration } : {}),
    ...(localEndpoint !== undefined ? { localEndpoint } : {}),
    tags,
    annotations,
  };
}

function id(value: unknown, field: string, lengths: readonly number[]): string {
  if (typeof value !== 'string' || !HEX.test(value) || !lengths.includes(value.length))
    throw new Error(
      `${field} ${JSON.stringify(value)} is not ${lengths.join(' or ')} lower-case hex characters`,
    );
  if (/^0+$/.test(value)) throw new Error(`${field} is all zeros`);
  return value;
}

function micros(value: unknown, field: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
    throw new Error(`${field} ${JSON.stringify(value)} is not a whole number of microseconds`);
  return value;
}
