// What the Loki and VictoriaLogs test receivers share: Loki's push API (the JSON body, the
// lines kept with their labels, the waiters, injected failures). Each receiver brings its
// paths and what it accepts (a PushProtocol); this core serves them.
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { listenOnLoopback, readBody, reply, Waiters } from './http-peer.js';

/** One log line as received. */
export interface ReceivedLine {
  /** The stream's labels (service, env, level with @meskit/otel-bootstrap). */
  readonly labels: Readonly<Record<string, string>>;
  /** Nanoseconds since the epoch, as Loki receives it (a string). */
  readonly timestampNs: string;
  /** The line as pushed. */
  readonly line: string;
  /** The line parsed as JSON, when it is a JSON object. */
  readonly json: Readonly<Record<string, unknown>> | undefined;
  /** Structured metadata, when the entry had any. */
  readonly metadata: Readonly<Record<string, string>> | undefined;
}

export interface ReceivedPush {
  readonly headers: IncomingHttpHeaders;
  /** The query arguments of the push URL (VictoriaLogs reads `_msg_field`, `_stream_fields`, ...). */
  readonly query: Readonly<Record<string, string>>;
  readonly streams: number;
  readonly lines: number;
}

/** What a receiver collected, and how to wait for more. */
export interface PushReceiver {
  /** Base URL (`http://127.0.0.1:<port>`). */
  readonly url: string;
  /** The full push URL. */
  readonly pushUrl: string;
  /** Every line received so far, in arrival order. */
  readonly lines: readonly ReceivedLine[];
  /** Every accepted push (headers included, to check auth and tenant headers). */
  readonly pushes: readonly ReceivedPush[];
  /** Requests refused: a wrong path or method, a body or content type not taken, or an injected failure status. */
  readonly rejected: number;
  /** Resolves with all lines once `predicate(lines)` holds (checked on every push); rejects after `timeoutMs`. */
  waitForLines(
    predicate: (lines: readonly ReceivedLine[]) => boolean,
    timeoutMs?: number,
  ): Promise<ReceivedLine[]>;
  /** Resolves with the first line matching `predicate`. */
  waitForLine(
    predicate: (line: ReceivedLine) => boolean,
    timeoutMs?: number,
  ): Promise<ReceivedLine>;
  /** From now on answer every push with this status (e.g. 500), or normally again with `undefined`. */
  respondWith(status: number | undefined): void;
  clear(): void;
  close(): Promise<void>;
}

/** A push the receiver does not take: answered with `status` and the message. */
export class PushRefused extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'PushRefused';
  }
}

export interface DecodedPush {
  readonly received: ReceivedLine[];
  readonly streamCount: number;
}

/** One receiver's side of the protocol. */
export interface PushProtocol {
  /** Path of pushes (`/loki/api/v1/push`). */
  readonly pushPath: string;
  /** Path answering GET with 200 `ready`. */
  readonly readyPath: string;
  /** Refuses what the receiver does not take, before an injected failure is answered (415). */
  checkRequest(request: IncomingMessage, query: URLSearchParams): void;
  /** The lines of a push; throws PushRefused (400) for a malformed one. */
  decode(body: Buffer, request: IncomingMessage): DecodedPush;
}

const DEFAULT_TIMEOUT_MS = 15_000;

/** Serves `protocol` on 127.0.0.1 and a free port. */
export async function startPushReceiver(protocol: PushProtocol): Promise<PushReceiver> {
  let lines: ReceivedLine[] = [];
  let pushes: ReceivedPush[] = [];
  let rejected = 0;
  let failWith: number | undefined;
  const waiters = new Waiters();
  const refuse = (response: ServerResponse, status: number, message: string): void => {
    rejected++;
    reply(response, status, `${message}\n`);
  };

  const peer = await listenOnLoopback((request, response) => {
    void (async () => {
      const target = new URL(request.url ?? '/', 'http://receiver');
      const path = target.pathname;
      if (request.method === 'GET' && path === protocol.readyPath) {
        reply(response, failWith ?? 200, failWith ? `injected failure ${failWith}\n` : 'ready\n');
        return;
      }
      if (request.method !== 'POST' || path !== protocol.pushPath) {
        refuse(
          response,
          404,
          `this test receiver takes POST ${protocol.pushPath} and GET ${protocol.readyPath} only, got ${request.method ?? '?'} ${path}`,
        );
        return;
      }
      let body: Buffer;
      try {
        body = await readBody(request);
      } catch (err) {
        refuse(response, 400, `cannot read the body: ${describe(err)}`);
        return;
      }
      try {
        protocol.checkRequest(request, target.searchParams);
      } catch (err) {
        refuse(response, err instanceof PushRefused ? err.status : 400, describe(err));
        return;
      }
      if (failWith !== undefined) {
        refuse(response, failWith, `injected failure ${failWith}`);
        return;
      }
      let decoded: DecodedPush;
      try {
        decoded = protocol.decode(body, request);
      } catch (err) {
        refuse(response, err instanceof PushRefused ? err.status : 400, describe(err));
        return;
      }
      lines.push(...decoded.received);
      pushes.push({
        headers: request.headers,
        query: Object.fromEntries(target.searchParams),
        streams: decoded.streamCount,
        lines: decoded.received.length,
      });
      // Loki and VictoriaLogs answer a successful push with 204 No Content.
      response.writeHead(204).end();
      waiters.notify();
    })();
  });

  const describeState = (): string =>
    `received ${lines.length} line(s) in ${pushes.length} push(es), ${rejected} rejected${
      lines.length ? `; last: ${lines.at(-1)?.line.slice(0, 200) ?? ''}` : ''
    }`;

  return {
    url: peer.url,
    pushUrl: `${peer.url}${protocol.pushPath}`,
    get lines() {
      return lines;
    },
    get pushes() {
      return pushes;
    },
    get rejected() {
      return rejected;
    },
    waitForLines(predicate, timeoutMs = DEFAULT_TIMEOUT_MS) {
      return waiters.wait(
        () => (predicate(lines) ? [...lines] : undefined),
        timeoutMs,
        describeState,
        'log lines',
      );
    },
    waitForLine(predicate, timeoutMs = DEFAULT_TIMEOUT_MS) {
      return waiters.wait(
        () => lines.find(predicate),
        timeoutMs,
        describeState,
        'a matching log line',
      );
    },
    respondWith(status) {
      failWith = status;
    },
    clear() {
      lines = [];
      pushes = [];
      rejected = 0;
    },
    close: () => peer.close(),
  };
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A received line, with `json` when the line is a JSON object. */
export function receivedLine(
  labels: Readonly<Record<string, string>>,
  timestampNs: string,
  line: string,
  metadata: Readonly<Record<string, string>> | undefined,
): ReceivedLine {
  let json: Record<string, unknown> | undefined;
  try {
    const candidate: unknown = JSON.parse(line);
    if (candidate !== null && typeof candidate === 'object' && !Array.isArray(candidate)) {
      json = candidate as Record<string, unknown>;
    }
  } catch {
    json = undefined;
  }
  return { labels, timestampNs, line, json, metadata };
}

interface JsonPush {
  streams?: unknown;
}

interface JsonStream {
  stream?: unknown;
  values?: unknown;
}

/**
 * The lines of a JSON push body (`{"streams":[{"stream":{labels},"values":[[ts, line,
 * metadata?]]}]}`). Label values must be strings, as Loki requires. `strict` adds what
 * VictoriaLogs checks on top (its parseJSONRequest): `streams` and every `values` present,
 * `stream` an object, each value an array of 2 or 3 items, the timestamp a number in a string
 * (or empty: now), the metadata an object. Throws PushRefused (400) with the reason.
 */
export function decodeJsonPush(body: Buffer, strict: boolean): DecodedPush {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new PushRefused(400, `cannot parse JSON request body: ${describe(err)}`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new PushRefused(400, 'the body is not a JSON object');
  }
  const streams = (json as JsonPush).streams;
  if (!Array.isArray(streams)) {
    throw new PushRefused(
      400,
      streams === undefined ? 'missing `streams` item' : '`streams` must be an array',
    );
  }
  const received: ReceivedLine[] = [];
  for (const item of streams as unknown[]) {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) {
      throw new PushRefused(400, 'a stream is not an object');
    }
    const stream = item as JsonStream;
    const labels = jsonLabels(stream.stream, strict);
    if (strict && !Array.isArray(stream.values)) {
      throw new PushRefused(
        400,
        stream.values === undefined
          ? 'missing `values` item in a stream'
          : '`values` must be an array',
      );
    }
    if (stream.values !== undefined && !Array.isArray(stream.values)) {
      throw new PushRefused(400, '`values` must be an array');
    }
    for (const entry of (stream.values ?? []) as unknown[]) {
      received.push(jsonEntry(entry, labels, strict));
    }
  }
  return { received, streamCount: streams.length };
}

function jsonLabels(value: unknown, strict: boolean): Record<string, string> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    if (strict) throw new PushRefused(400, '`stream` must be an object of labels');
    return {};
  }
  const labels: Record<string, string> = {};
  for (const [key, label] of Object.entries(value as Record<string, unknown>)) {
    if (typeof label !== 'string') throw new PushRefused(400, `label ${key} is not a string`);
    labels[key] = label;
  }
  return labels;
}

// A Unix timestamp as VictoriaLogs takes it: whole (s, ms, µs or ns by magnitude) or with a
// fraction of a second; Loki's own clients send nanoseconds.
const UNIX_TIMESTAMP = /^\d+(?:\.\d+)?$/;

function jsonEntry(entry: unknown, labels: Record<string, string>, strict: boolean): ReceivedLine {
  if (!Array.isArray(entry) || (strict && (entry.length < 2 || entry.length > 3))) {
    throw new PushRefused(
      400,
      'a `values` item is not an array of [timestamp string, line string] or [timestamp, line, metadata object]',
    );
  }
  const [timestamp, line, metadata] = entry as unknown[];
  if (typeof timestamp !== 'string' || typeof line !== 'string') {
    throw new PushRefused(400, 'a value is not a [timestamp string, line string] pair');
  }
  if (strict && timestamp !== '' && !UNIX_TIMESTAMP.test(timestamp)) {
    throw new PushRefused(400, `cannot parse log timestamp ${JSON.stringify(timestamp)}`);
  }
  const isObject = metadata !== null && typeof metadata === 'object' && !Array.isArray(metadata);
  if (strict && metadata !== undefined && !isObject) {
    throw new PushRefused(400, 'structured metadata (the third item of a value) must be an object');
  }
  return receivedLine(
    labels,
    timestamp,
    line,
    isObject ? (metadata as Record<string, string>) : undefined,
  );
}
