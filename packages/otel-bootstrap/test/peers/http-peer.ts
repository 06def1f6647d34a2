// What both test peers share: a loopback HTTP server on a free port, body reading (with
// gzip), and waiters that resolve when the collected data satisfies a predicate.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

/** Largest request body a peer accepts: a test never needs more, a runaway exporter is cut off. */
const MAX_BODY_BYTES = 32 * 1024 * 1024;

export interface StartedPeer {
  readonly server: Server;
  readonly url: string;
  close(): Promise<void>;
}

/** A server certificate and key (PEM): the peer then speaks HTTPS. */
export interface PeerTls {
  readonly cert: string;
  readonly key: string;
}

export async function listenOnLoopback(
  handler: (request: IncomingMessage, response: ServerResponse) => void,
  tls?: PeerTls,
): Promise<StartedPeer> {
  const server: Server = tls ? createTlsServer(tls, handler) : createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    server,
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Exporters keep their connections alive; do not wait for them to give up.
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

/** The request body, gunzipped when sent with `content-encoding: gzip`. */
export async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_BODY_BYTES) throw new Error(`request body larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(buffer);
  }
  const body = Buffer.concat(chunks);
  const encoding = (request.headers['content-encoding'] ?? '').toLowerCase();
  return encoding === 'gzip' ? gunzipSync(body) : body;
}

export function reply(
  response: ServerResponse,
  status: number,
  body: string,
  contentType = 'text/plain; charset=utf-8',
): void {
  response.writeHead(status, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
  });
  response.end(body);
}

interface Waiter<T> {
  readonly check: () => T | undefined;
  readonly resolve: (value: T) => void;
}

/**
 * Promises that resolve when `check` returns a value, re-checked whenever data arrives (no
 * polling), or reject after `timeoutMs` with a message saying what did arrive.
 */
export class Waiters {
  #waiters = new Set<Waiter<unknown>>();

  wait<T>(
    check: () => T | undefined,
    timeoutMs: number,
    describeState: () => string,
    what: string,
  ): Promise<T> {
    const now = check();
    if (now !== undefined) return Promise.resolve(now);
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter<T> = {
        check,
        resolve: (value) => {
          clearTimeout(timer);
          this.#waiters.delete(waiter as Waiter<unknown>);
          resolve(value);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter as Waiter<unknown>);
        reject(
          new Error(`timed out after ${timeoutMs} ms waiting for ${what}; ${describeState()}`),
        );
      }, timeoutMs);
      // A forgotten wait must not keep a test process alive.
      timer.unref();
      this.#waiters.add(waiter as Waiter<unknown>);
    });
  }

  /** Re-runs every waiter's check; call after new data arrived. */
  notify(): void {
    for (const waiter of [...this.#waiters]) {
      let value: unknown;
      try {
        value = waiter.check();
      } catch {
        // A throwing predicate is the test's bug; it will show as the timeout.
        value = undefined;
      }
      if (value !== undefined) waiter.resolve(value);
    }
  }
}
