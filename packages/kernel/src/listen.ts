// Binding a server: one place that waits for 'listening' or 'error', wraps the failure in a
// ListenError that says what to do, and writes the URL with IPv6 addresses in brackets.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:net';
import { ListenError } from './errors.js';

/** `http://127.0.0.1:8080`, `http://[::1]:8080`. */
export function httpUrl(address: AddressInfo, protocol = 'http'): string {
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `${protocol}://${host}:${address.port}`;
}

export interface ListenOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Names the server in the error, e.g. `cache proxy (adminPort)`. */
  what: string;
}

/**
 * Listens and resolves with the server's URL; rejects with `ListenError` (`LISTEN_FAILED`)
 * naming the address and the fix when the port cannot be bound.
 */
export async function listen(server: Server, opts: ListenOptions): Promise<string> {
  server.listen(opts.port, opts.host);
  // Whichever event comes first, the listener for the other one is removed.
  const settled = new AbortController();
  try {
    await Promise.race([
      once(server, 'listening', { signal: settled.signal }),
      once(server, 'error', { signal: settled.signal }).then(([e]) => Promise.reject(e as Error)),
    ]);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    const fix =
      (error as NodeJS.ErrnoException).code === 'EADDRINUSE'
        ? 'Stop what holds it or choose another port.'
        : 'Check the host and port (an address of this machine; ports below 1024 need privileges).';
    throw new ListenError(
      opts.host,
      opts.port,
      `${opts.what}: cannot listen on ${opts.host}:${opts.port}: ${reason}. ${fix}`,
      { cause: error },
    );
  } finally {
    settled.abort();
  }
  return httpUrl(server.address() as AddressInfo);
}
