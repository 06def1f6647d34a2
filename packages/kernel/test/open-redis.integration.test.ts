// openRedis's connection handshake on the real Redis. A process under load may not run its
// event loop for a few hundred milliseconds: a connection's handshake (CLIENT SETNAME, the
// INFO ready check) must survive that, or a client reconnects again and again while the load
// lasts (seen after a Sentinel failover, under a full test run: one proxy's client stayed
// "reconnecting" for over a minute). A server that accepts but never answers the handshake is
// still left and retried.
import net from 'node:net';
import { serviceUrls, waitFor } from '@meskit/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { openRedis, quitRedis, redisTarget, type RedisClientSettings } from '../dist/index.js';

/** What cache-proxy asks of its clients (its commands bounded at 250 ms by boundedRedis). */
const FAST: RedisClientSettings = {
  connectionName: 'meskit-kernel-test',
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
};

/** Blocks the event loop, as a burst of synchronous work under load does. */
function stall(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy: nothing else runs
  }
}

const servers: net.Server[] = [];
const sockets: net.Socket[] = [];
afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
});

describe('openRedis handshake', () => {
  it('a stalled event loop during the handshake does not cost the connection', async () => {
    const client = openRedis(redisTarget(serviceUrls().redisUrl), FAST);
    let reconnects = 0;
    client.on('reconnecting', () => (reconnects += 1));
    client.on('error', () => undefined);
    // 'connect' is emitted once the handshake's commands are written: stall before their
    // answers are read, longer than the proxy's command budget.
    client.once('connect', () => stall(400));
    try {
      await waitFor('the client is ready', () => client.status === 'ready');
      expect(reconnects).toBe(0);
      expect(await client.ping()).toBe('PONG');
    } finally {
      await quitRedis(client, 1_000);
    }
  });

  it('a server that accepts but never answers the handshake is left and tried again', async () => {
    let accepted = 0;
    const silent = net.createServer((socket) => {
      accepted += 1;
      sockets.push(socket);
      socket.on('error', () => undefined);
    });
    servers.push(silent);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as net.AddressInfo;
    const client = openRedis(redisTarget(`redis://127.0.0.1:${port}`), {
      ...FAST,
      handshakeTimeoutMs: 300,
    });
    client.on('error', () => undefined);
    let reconnects = 0;
    client.on('reconnecting', () => (reconnects += 1));
    try {
      await waitFor(
        'the client gave up on the silent server and tried again',
        () => accepted >= 2,
        {
          timeoutMs: 10_000,
        },
      );
      expect(reconnects).toBeGreaterThanOrEqual(1);
      expect(client.status).not.toBe('ready');
    } finally {
      client.disconnect();
    }
  });

  it('a socket that errs more than once does not throw from the client (a TLS alert after a refusal)', async () => {
    const client = openRedis(redisTarget(serviceUrls().redisUrl), FAST);
    client.on('error', () => undefined);
    try {
      await waitFor('the client is ready', () => client.status === 'ready');
      // ioredis listens for one error per socket (twice over, both `once`): a TLS socket that
      // emits another after them (the server's alert once the client refused its certificate)
      // would be an uncaught exception, and a crashed sidecar.
      const stream = (client as unknown as { stream: net.Socket }).stream;
      expect(() => {
        for (let i = 0; i < 3; i++) stream.emit('error', new Error(`socket error ${i}`));
      }).not.toThrow();
      await waitFor('the client connected again', () => client.status === 'ready');
    } finally {
      await quitRedis(client, 1_000);
    }
  });
});
