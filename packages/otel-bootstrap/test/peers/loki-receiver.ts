// A Loki push receiver for tests (no Loki can be installed here). It takes the JSON push
// API (POST /loki/api/v1/push, what pino-loki sends) and answers GET /ready like Loki.
// Snappy-compressed protobuf pushes (Promtail, Alloy) are refused with 415 and a message.
import type { IncomingHttpHeaders } from 'node:http';
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
  readonly streams: number;
  readonly lines: number;
}

export interface LokiReceiver {
  /** Base URL, for MESKIT_LOKI_URL (`http://127.0.0.1:<port>`). */
  readonly url: string;
  /** `<url>/loki/api/v1/push`. */
  readonly pushUrl: string;
  /** Every line received so far, in arrival order. */
  readonly lines: readonly ReceivedLine[];
  /** Every accepted push (headers included, to check auth and tenant headers). */
  readonly pushes: readonly ReceivedPush[];
  /** Requests refused: protobuf, malformed JSON, wrong path, or an injected failure status. */
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

const PUSH_PATH = '/loki/api/v1/push';
const DEFAULT_TIMEOUT_MS = 15_000;

interface JsonPush {
  streams?: {
    stream?: Record<string, unknown>;
    values?: unknown[][];
  }[];
}

/** Starts a receiver on 127.0.0.1 and a free port. */
export async function startLokiReceiver(): Promise<LokiReceiver> {
  let lines: ReceivedLine[] = [];
  let pushes: ReceivedPush[] = [];
  let rejected = 0;
  let failWith: number | undefined;
  const waiters = new Waiters();

  const peer = await listenOnLoopback((request, response) => {
    void (async () => {
      const path = (request.url ?? '/').split('?')[0];
      if (request.method === 'GET' && path === '/ready') {
        reply(response, failWith ?? 200, failWith ? `injected failure ${failWith}\n` : 'ready\n');
        return;
      }
      if (request.method !== 'POST' || path !== PUSH_PATH) {
        rejected++;
        reply(response, 404, `this test receiver takes POST ${PUSH_PATH} and GET /ready only\n`);
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
          `this test receiver accepts the JSON push API only (Content-Type: application/json), got "${contentType || 'none'}"; snappy-compressed protobuf is not supported\n`,
        );
        return;
      }
      if (failWith !== undefined) {
        rejected++;
        reply(response, failWith, `injected failure ${failWith}\n`);
        return;
      }
      let received: ReceivedLine[];
      let streamCount: number;
      try {
        ({ received, streamCount } = decodePush(JSON.parse(body.toString('utf8')) as unknown));
      } catch (err) {
        rejected++;
        reply(
          response,
          400,
          `not a Loki push request: ${err instanceof Error ? err.message : String(err)}\n`,
        );
        return;
      }
      lines.push(...received);
      pushes.push({ headers: request.headers, streams: streamCount, lines: received.length });
      // Loki answers a successful push with 204 No Content.
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
    pushUrl: `${peer.url}${PUSH_PATH}`,
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

function decodePush(json: unknown): { received: ReceivedLine[]; streamCount: number } {
  if (json === null || typeof json !== 'object') throw new Error('the body is not a JSON object');
  const push = json as JsonPush;
  if (!Array.isArray(push.streams)) throw new Error('streams is not an array');
  const received: ReceivedLine[] = [];
  for (const stream of push.streams) {
    const labels: Record<string, string> = {};
    for (const [key, value] of Object.entries(stream.stream ?? {})) {
      if (typeof value !== 'string') throw new Error(`label ${key} is not a string`);
      labels[key] = value;
    }
    for (const entry of stream.values ?? []) {
      const [timestamp, line, metadata] = entry;
      if (typeof timestamp !== 'string' || typeof line !== 'string') {
        throw new Error('a value is not a [timestamp string, line string] pair');
      }
      let parsed: Record<string, unknown> | undefined;
      try {
        const candidate: unknown = JSON.parse(line);
        if (candidate !== null && typeof candidate === 'object' && !Array.isArray(candidate)) {
          parsed = candidate as Record<string, unknown>;
        }
      } catch {
        parsed = undefined;
      }
      received.push({
        labels,
        timestampNs: timestamp,
        line,
        json: parsed,
        metadata:
          metadata !== null && typeof metadata === 'object'
            ? (metadata as Record<string, string>)
            : undefined,
      });
    }
  }
  return { received, streamCount: push.streams.length };
}
