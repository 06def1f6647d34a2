import {
  request as httpRequest,
  STATUS_CODES,
  type IncomingHttpHeaders,
  type IncomingMessage,
} from 'node:http';
import { request as httpsRequest } from 'node:https';
import { redactUrl } from '../../internal/redact.js';
import { describeError } from '../describe-error.js';
import { tlsFactsOf, type TlsFacts } from '../tls-facts.js';
import type { CheckContext } from '../types.js';

// Enough of a body to say what answered, not enough to flood a terminal or hold memory.
const DEFAULT_MAX_BODY_BYTES = 64 * 1024;

export interface ProbeResponse {
  readonly statusCode: number;
  /** `200 OK`, `415 Unsupported Media Type`. */
  readonly statusText: string;
  readonly contentType: string;
  readonly headers: IncomingHttpHeaders;
  /** At most the first `maxBodyBytes`. */
  readonly body: string;
  /** The connection's encryption (read before the socket closes). */
  readonly tls: TlsFacts;
}

export interface ProbeRequest {
  readonly method: 'GET' | 'POST';
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly signal: AbortSignal;
  /** Body bytes kept. Default: 64 KiB. */
  readonly maxBodyBytes?: number;
  /** PEM CA to verify an https endpoint against (OTEL_EXPORTER_OTLP_CERTIFICATE). Default: Node's. */
  readonly ca?: string;
}

/**
 * One HTTP request for a doctor check. No keep-alive agent (a pooled socket would keep the
 * process alive after the report) and no redirects followed (a check names the endpoint it
 * was given, not where it was sent).
 */
export function probe(url: URL, options: ProbeRequest): Promise<ProbeResponse> {
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  return new Promise((resolve, reject) => {
    const req = send(url, {
      method: options.method,
      agent: false,
      signal: options.signal,
      ...(options.ca !== undefined ? { ca: options.ca } : {}),
      headers: {
        connection: 'close',
        ...(options.body !== undefined
          ? { 'content-length': String(Buffer.byteLength(options.body)) }
          : {}),
        ...options.headers,
      },
    });
    req.once('error', reject);
    req.once('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let settled = false;
      const tls = tlsFactsOf(res.socket);
      const finish = (): void => {
        if (settled) return;
        settled = true;
        res.destroy();
        const statusCode = res.statusCode ?? 0;
        resolve({
          statusCode,
          statusText: `${statusCode} ${STATUS_CODES[statusCode] ?? ''}`.trim(),
          contentType: String(res.headers['content-type'] ?? ''),
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          tls,
        });
      };
      res.on('data', (chunk: Buffer) => {
        if (size >= maxBodyBytes) return;
        chunks.push(chunk.subarray(0, maxBodyBytes - size));
        size += chunk.length;
        if (size >= maxBodyBytes) finish();
      });
      res.once('end', finish);
      res.once('error', reject);
    });
    req.end(options.body);
  });
}

/** `k=v,k2=v2` (the OTEL_EXPORTER_OTLP_HEADERS format, values percent-decoded). */
export function parseHeaderList(raw: string | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const entry of (raw ?? '').split(',')) {
    const index = entry.indexOf('=');
    if (index <= 0) continue;
    const key = entry.slice(0, index).trim();
    if (key) headers[decode(key)] = decode(entry.slice(index + 1).trim());
  }
  return headers;
}

/** An env var's value, or undefined when unset or empty (how shells unset things). */
export function envValue(
  env: Readonly<Record<string, string | undefined>>,
  name: string,
): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

/** The URL if it is http(s), else undefined. */
export function httpUrl(raw: string): URL | undefined {
  try {
    const url = new URL(raw);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : undefined;
  } catch {
    return undefined;
  }
}

/** `host:port` for messages (never the whole URL, which may carry credentials). */
export function hostPort(url: URL): string {
  return `${url.hostname}:${url.port || (url.protocol === 'https:' ? 443 : 80)}`;
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** What `getSidecar` answers: the response, and the URL as it may be shown (redacted). */
export interface SidecarAnswer {
  readonly response: ProbeResponse;
  /** The URL with its password redacted, for messages and details. */
  readonly shown: string;
  /** `host:port`, for messages. */
  readonly endpoint: string;
}

/**
 * GET `url` of a meskit sidecar for a doctor check (credentials in the URL are shown redacted
 * and not sent). An unreachable sidecar throws one line naming it and the command that runs
 * it, e.g. `meskit pricing serve`.
 */
export async function getSidecar(
  ctx: CheckContext,
  url: URL,
  sidecar: { readonly name: string; readonly command: string; readonly maxBodyBytes?: number },
): Promise<SidecarAnswer> {
  const shown = redactUrl(url.href);
  const endpoint = hostPort(url);
  url.username = '';
  url.password = '';
  ctx.step(`waiting for GET ${shown}`);
  try {
    const response = await probe(url, {
      method: 'GET',
      headers: { accept: 'application/json' },
      signal: ctx.signal,
      ...(sidecar.maxBodyBytes !== undefined ? { maxBodyBytes: sidecar.maxBodyBytes } : {}),
    });
    return { response, shown, endpoint };
  } catch (err) {
    throw new Error(
      `cannot reach ${sidecar.name} at ${endpoint}: ${describeError(err)} (is \`${sidecar.command}\` running there?)`,
      { cause: err },
    );
  }
}
