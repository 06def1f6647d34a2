// A TCP relay in front of a server that a test can cut, as if the server died or the network
// dropped the connections, while the server itself runs on for the other test files.
import { once } from 'node:events';
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface FaultRelay {
  /** `target` with the relay's host and port. */
  url: string;
  /** Destroys every connection through the relay; new ones are still accepted. */
  cut(): void;
  /** Cuts every connection and stops accepting new ones: the server is unreachable. */
  close(): Promise<void>;
}

export async function startRelay(target: URL | string): Promise<FaultRelay> {
  const to = new URL(target.toString());
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = createConnection(Number(to.port), to.hostname);
    for (const [a, b] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      sockets.add(a);
      a.pipe(b);
      a.on('error', () => b.destroy());
      a.on('close', () => {
        sockets.delete(a);
        b.destroy();
      });
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = new URL(to.toString());
  url.hostname = '127.0.0.1';
  url.port = String((server.address() as { port: number }).port);
  const cut = (): void => {
    for (const socket of sockets) socket.destroy();
  };
  let closed: Promise<void> | undefined;
  return {
    url: url.toString(),
    cut,
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        cut();
      });
      return closed;
    },
  };
}

/** A loopback port nothing listens on (bound, then released). */
export async function deadPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}
