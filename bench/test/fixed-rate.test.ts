// The open-loop load generator against a local server. It runs from the built bench (dist),
// as the benchmark runs it: the worker file is resolved next to the compiled module.
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startFixedRate, type FixedRateGenerator } from '../dist/lib/fixed-rate.js';

interface Received {
  method: string;
  path: string;
  id: number | undefined;
}

let server: Server | undefined;
let generator: FixedRateGenerator | undefined;

afterEach(async () => {
  await generator?.close();
  generator = undefined;
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = undefined;
});

/** A server on 127.0.0.1 recording every request; `status(received)` decides the answer. */
async function recordingServer(status: (r: Received) => number = () => 200) {
  const received: Received[] = [];
  const sockets = new Set<Socket>();
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const r: Received = {
        method: request.method ?? '?',
        path: request.url ?? '/',
        id: text ? (JSON.parse(text) as { id: number }).id : undefined,
      };
      received.push(r);
      response.writeHead(status(r), { 'content-type': 'application/json' });
      response.end('{"ok":true}');
    });
  });
  server.on('connection', (socket: Socket) => sockets.add(socket));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return { origin: `http://127.0.0.1:${port}`, received, sockets };
}

describe('startFixedRate', () => {
  it('sends rate × seconds requests, each built from its index, over keep-alive connections', async () => {
    const { origin, received, sockets } = await recordingServer();
    generator = await startFixedRate({ origin });
    const result = await generator.run({
      rate: 200,
      seconds: 2,
      request: (i) => ({ method: 'POST', path: `/items/${i}`, body: JSON.stringify({ id: i }) }),
    });

    expect(result.scheduled).toBe(400);
    expect(Math.abs(result.sent - 400)).toBeLessThanOrEqual(4);
    expect(result.errors).toBe(0);
    expect(result.completed).toBe(result.sent);
    expect(received).toHaveLength(result.sent);
    const ids = received.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(received.every((r) => r.method === 'POST' && r.path === `/items/${r.id}`)).toBe(true);
    expect(result.latency.samples).toBe(result.completed);
    expect(result.latency.p50Ms).toBeGreaterThan(0);
    expect(result.latency.p99Ms).toBeGreaterThanOrEqual(result.latency.p50Ms);
    // Connections are reused, and never more than the in-flight bound.
    expect(sockets.size).toBeLessThan(result.sent);
    expect(sockets.size).toBeLessThanOrEqual(256);
  });

  it('counts non-2xx answers as errors and keeps the latencies of the successes only', async () => {
    const { origin, received } = await recordingServer((r) => (r.path.endsWith('/1') ? 500 : 200));
    generator = await startFixedRate({ origin });
    const result = await generator.run({
      rate: 100,
      seconds: 1,
      request: (i) => ({ method: 'GET', path: `/items/${i % 2}` }),
    });

    expect(received).toHaveLength(100);
    expect(result.errors).toBe(50);
    expect(result.completed).toBe(50);
    expect(result.latency.samples).toBe(50);
    expect(result.firstError).toMatch(/GET \/items\/1 answered 500/);
  });

  it('runs one schedule after another on the same worker', async () => {
    const { origin, received } = await recordingServer();
    generator = await startFixedRate({ origin });
    const first = await generator.run({
      rate: 50,
      seconds: 1,
      request: () => ({ method: 'GET', path: '/a' }),
    });
    const second = await generator.run({
      rate: 50,
      seconds: 1,
      request: () => ({ method: 'GET', path: '/b' }),
    });

    expect([first.sent, second.sent]).toEqual([50, 50]);
    expect(received.filter((r) => r.path === '/a')).toHaveLength(50);
    expect(received.filter((r) => r.path === '/b')).toHaveLength(50);
  });

  it('refuses an origin that is not loopback', async () => {
    await expect(startFixedRate({ origin: 'http://192.0.2.1:80' })).rejects.toThrow(/loopback/);
  });
});
