// Forwarding to the MES: node:http over a keep-alive agent, bodies streamed both ways, hop-by-hop
// headers dropped, X-Forwarded-* added. An unreachable MES is answered 502 with a JSON error.
//
// Idle keep-alive connections are closed by the agent before the MES closes them (`idleTimeoutMs`,
// or one second before the MES's announced `Keep-Alive: timeout=`, whichever is sooner): a request
// written on a connection the MES is closing fails without the MES having seen it. Should that
// race still be lost, a bodiless GET or HEAD that failed on a reused connection before any byte
// of its answer is sent once more on a new one (counted); a request with a body is not replayed.
import http, {
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from 'node:http';
import { createTokenTracker, MESSAGE_HEADERS, type TokenTracker } from '@meskit/kernel';

/** RFC 9110 section 7.6.1: meaningful for one connection only, never forwarded. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

export interface Upstream {
  /**
   * The newest read-your-writes token (`x-meskit-lsn`) the MES handed out in an answer the
   * proxy forwarded, or an event carried: every fill and write-through sends it, so the MES
   * (on db-router) never answers them from a replica older than what the index already holds.
   */
  readonly tokens: TokenTracker;
  readonly origin: string;
  readonly host: string;
  readonly port: number;
  readonly agent: http.Agent;
  readonly timeoutMs: number;
  /** A request sent again after its reused connection was reset (see the header). */
  readonly retried: () => void;
}

export interface UpstreamOptions {
  url: URL;
  timeoutMs: number;
  maxSockets: number;
  /** An idle connection to the MES is closed after this long (sooner if the MES says so). */
  idleTimeoutMs: number;
  retried: () => void;
}

export function createUpstream(opts: UpstreamOptions): Upstream {
  return {
    tokens: createTokenTracker(),
    origin: opts.url.origin,
    host: opts.url.hostname,
    port: Number(opts.url.port || 80),
    // Keep-alive: a fill or a forwarded request does not pay a TCP handshake each time. The
    // agent's `timeout` is what it gives a free socket; node:http lowers it to one second under
    // the server's `Keep-Alive: timeout=` hint, but only when the agent has a timeout to lower.
    // Each request sets its own (`timeoutMs`) while it holds the socket.
    agent: new http.Agent({
      keepAlive: true,
      maxSockets: opts.maxSockets,
      maxFreeSockets: 64,
      timeout: opts.idleTimeoutMs,
    }),
    timeoutMs: opts.timeoutMs,
    retried: opts.retried,
  };
}

/** Errors of a connection the peer closed or reset while the request was being written. */
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

/** Whether a failed request may be sent once more, unchanged, on a new connection. */
function replayable(outgoing: http.ClientRequest, error: Error, bodiless: boolean): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return bodiless && outgoing.reusedSocket && code !== undefined && RESET_CODES.has(code);
}

/** A client request without a body: GET or HEAD, no Content-Length above 0, no chunked body. */
function isBodilessRead(req: IncomingMessage): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  if (req.headers['transfer-encoding'] !== undefined) return false;
  const length = req.headers['content-length'];
  return length === undefined || Number(length) === 0;
}

/** Headers minus hop-by-hop ones (and those the Connection header names). */
export function endToEnd(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const named = new Set(
    String(headers['connection'] ?? '')
      .split(',')
      .map((h) => h.trim().toLowerCase())
      .filter(Boolean),
  );
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named.has(name)) continue;
    out[name] = value;
  }
  return out;
}

function requestHeaders(req: IncomingMessage, upstream: Upstream): OutgoingHttpHeaders {
  const headers = endToEnd(req.headers);
  const client = req.socket.remoteAddress ?? 'unknown';
  const prior = req.headers['x-forwarded-for'];
  headers['x-forwarded-for'] = prior ? `${String(prior)}, ${client}` : client;
  headers['x-forwarded-proto'] ??= 'http';
  if (req.headers.host) headers['x-forwarded-host'] ??= req.headers.host;
  headers['host'] = `${upstream.host}:${upstream.port}`;
  // A forwarded read (a miss, a bypass) is no older than what the index may already hold: the
  // newest position the proxy has seen, or the client's own if newer.
  upstream.tokens.see(req.headers[MESSAGE_HEADERS.lsn]);
  if (upstream.tokens.newest !== undefined) headers[MESSAGE_HEADERS.lsn] = upstream.tokens.newest;
  return headers;
}

/** Our entry appended to any Cache-Status the MES (or a cache before it) set. */
export function withCacheStatus(headers: OutgoingHttpHeaders, entry: string): OutgoingHttpHeaders {
  const prior = headers['cache-status'];
  headers['cache-status'] = prior ? `${String(prior)}, ${entry}` : entry;
  return headers;
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: OutgoingHttpHeaders = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
  });
  res.end(payload);
}

function badGateway(res: ServerResponse, error: Error, cacheStatus: string): void {
  sendJson(
    res,
    502,
    {
      error: {
        code: 'UPSTREAM_UNAVAILABLE',
        message: `the MES did not answer: ${error.message}`,
      },
    },
    { 'cache-status': `${cacheStatus}; detail=upstream-error` },
  );
}

export interface ForwardOptions {
  /** This proxy's Cache-Status entry, e.g. `meskit; fwd=bypass`. */
  cacheStatus: string;
  /**
   * Read the whole answer (up to `maxBufferBytes`) and call this before any byte of it reaches
   * the client. A larger answer is streamed without calling it.
   */
  beforeReply?: (status: number, body: Buffer) => Promise<void>;
  maxBufferBytes?: number;
}

/** Sends `req` to the MES and its answer to `res`. Never rejects. */
export function forward(
  upstream: Upstream,
  req: IncomingMessage,
  res: ServerResponse,
  opts: ForwardOptions,
): Promise<void> {
  return new Promise<void>((resolve) => {
    const headers = requestHeaders(req, upstream);
    const bodiless = isBodilessRead(req);
    let settled = false;
    let outgoing: http.ClientRequest;
    const done = (): void => {
      if (settled) return;
      settled = true;
      resolve();
    };
    // The client went away: stop the MES's work for it too.
    res.once('close', () => {
      if (!res.writableFinished) outgoing.destroy();
      done();
    });
    req.once('error', () => outgoing.destroy());

    const send = (attempt: number): void => {
      outgoing = http.request({
        host: upstream.host,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers,
        agent: upstream.agent,
        timeout: upstream.timeoutMs,
      });
      const sent = outgoing;
      let answered = false;
      sent.on('timeout', () =>
        sent.destroy(new Error(`no answer within ${upstream.timeoutMs} ms`)),
      );
      sent.on('error', (error) => {
        if (settled) return;
        if (attempt === 0 && !answered && replayable(sent, error, bodiless)) {
          upstream.retried();
          send(1);
          return;
        }
        if (!res.headersSent) badGateway(res, error, opts.cacheStatus);
        else res.destroy();
        done();
      });
      sent.on('response', (answer) => {
        answered = true;
        onAnswer(answer);
      });
      if (bodiless) sent.end();
      else req.pipe(sent);
    };

    const onAnswer = (answer: IncomingMessage): void => {
      upstream.tokens.see(answer.headers[MESSAGE_HEADERS.lsn]);
      const status = answer.statusCode ?? 502;
      const headers = withCacheStatus(endToEnd(answer.headers), opts.cacheStatus);
      const limit = opts.maxBufferBytes ?? 1024 * 1024;
      const declared = Number(answer.headers['content-length']);
      if (opts.beforeReply && !(declared > limit)) {
        void bufferThen(answer, limit, status, headers, res, opts.beforeReply).then(done, done);
        return;
      }
      res.writeHead(status, answer.statusMessage, headers);
      answer.pipe(res);
      answer.once('error', () => res.destroy());
      answer.once('end', done);
    };

    send(0);
  });
}

async function bufferThen(
  answer: IncomingMessage,
  limit: number,
  status: number,
  headers: OutgoingHttpHeaders,
  res: ServerResponse,
  beforeReply: (status: number, body: Buffer) => Promise<void>,
): Promise<void> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of answer) {
      size += (chunk as Buffer).length;
      if (size > limit) throw new Error(`answer larger than ${limit} bytes`);
      chunks.push(chunk as Buffer);
    }
  } catch {
    res.destroy();
    return;
  }
  const body = Buffer.concat(chunks, size);
  await beforeReply(status, body);
  if (res.destroyed) return;
  delete headers['content-length'];
  res.writeHead(status, answer.statusMessage, { ...headers, 'content-length': body.length });
  res.end(body);
}

export interface FetchedAnswer {
  status: number;
  contentType: string | undefined;
  body: Buffer;
}

/** A GET of the proxy's own (fill, write-through) to the MES; rejects on network errors. */
export async function fetchUpstream(
  upstream: Upstream,
  path: string,
  maxBytes = 8 * 1024 * 1024,
): Promise<FetchedAnswer> {
  try {
    return await getOnce(upstream, path, maxBytes);
  } catch (error) {
    if (!(error instanceof ResetOnReuse)) throw error;
    upstream.retried();
    return getOnce(upstream, path, maxBytes);
  }
}

/** The reused connection of a GET was reset before its answer began: safe to send again. */
class ResetOnReuse extends Error {}

function getOnce(upstream: Upstream, path: string, maxBytes: number): Promise<FetchedAnswer> {
  return new Promise<FetchedAnswer>((resolve, reject) => {
    const outgoing = http.request({
      host: upstream.host,
      port: upstream.port,
      method: 'GET',
      path,
      headers: {
        accept: 'application/json',
        host: `${upstream.host}:${upstream.port}`,
        ...(upstream.tokens.newest !== undefined
          ? { [MESSAGE_HEADERS.lsn]: upstream.tokens.newest }
          : {}),
      },
      agent: upstream.agent,
      timeout: upstream.timeoutMs,
    });
    let answered = false;
    outgoing.on('timeout', () =>
      outgoing.destroy(
        new Error(`the MES did not answer GET ${path} within ${upstream.timeoutMs} ms`),
      ),
    );
    outgoing.on('error', (error) =>
      reject(
        !answered && replayable(outgoing, error, true)
          ? new ResetOnReuse(error.message, { cause: error })
          : error,
      ),
    );
    outgoing.on('response', (answer) => {
      answered = true;
      upstream.tokens.see(answer.headers[MESSAGE_HEADERS.lsn]);
      const chunks: Buffer[] = [];
      let size = 0;
      answer.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBytes) {
          outgoing.destroy(
            new Error(`the MES answered GET ${path} with more than ${maxBytes} bytes`),
          );
          return;
        }
        chunks.push(chunk);
      });
      answer.on('error', reject);
      answer.on('end', () =>
        resolve({
          status: answer.statusCode ?? 0,
          contentType: answer.headers['content-type'],
          body: Buffer.concat(chunks, size),
        }),
      );
    });
    outgoing.end();
  });
}
