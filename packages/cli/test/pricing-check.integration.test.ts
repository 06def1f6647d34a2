// `meskit doctor`'s `pricing` check as users run it: the real binary against a real pricing
// sidecar (createPricingServer over a runner, in this process, on a free port), one whose queue
// is full, something that is not the sidecar, and a closed port.
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import {
  createPricingRunner,
  createPricingServer,
  type PricingRunner,
  type PricingServer,
} from '@meskit/pricing-runner';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedPort, expectCleanExit, runDoctorCheck, runMeskit, soleCheck } from './helpers.js';

// A sidecar with room in its queue, and one whose queue holds nothing (maxQueue 0): its
// /readyz answers 503 busy for as long as it runs, as a saturated sidecar's does.
let ready: { runner: PricingRunner; server: PricingServer };
let full: { runner: PricingRunner; server: PricingServer };
// Something else on a port: the MES, a proxy's 404 page.
let other: Server;
let otherUrl: string;

async function startSidecar(maxQueue: number) {
  const registry = new Registry();
  const runner = createPricingRunner({ threads: 2, maxQueue, registry });
  const server = await createPricingServer({ runner, registry, port: 0, host: '127.0.0.1' });
  return { runner, server };
}

beforeAll(async () => {
  ready = await startSidecar(8);
  full = await startSidecar(0);
  other = createHttpServer((_req, res) => {
    res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>Not Found</h1>');
  });
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
  otherUrl = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const sidecar of [ready, full]) {
    await sidecar?.server.close();
    await sidecar?.runner.close();
  }
  other?.closeAllConnections();
  await new Promise((resolve) => other?.close(resolve));
});

describe('meskit doctor: pricing', () => {
  it('passes against a ready sidecar and reports its threads and queue', async () => {
    const result = await runDoctorCheck('pricing', ['--pricing-url', ready.server.url]);
    expectCleanExit(result);
    expect(result.code).toBe(0);
    const check = soleCheck(result, 'pricing');
    const endpoint = new URL(ready.server.url).host;
    expect(check).toMatchObject({
      status: 'pass',
      title: 'Pricing sidecar',
      message: `pricing sidecar at ${endpoint} is ready: 2 threads (0 busy), 0 queued`,
      details: { statusCode: 200, status: 'ready', threads: 2, busy: 0, queued: 0 },
    });
  });

  it('is configured by MESKIT_PRICING_URL, which may name /readyz itself', async () => {
    const result = await runMeskit(['doctor', '--only', 'pricing'], {
      MESKIT_PRICING_URL: `${ready.server.url}/readyz`,
    });
    expectCleanExit(result);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      /^PASS\s+pricing\s+\d+ ms\s+pricing sidecar at 127\.0\.0\.1:\d+ is ready/m,
    );
  });

  it('warns, without failing the run, when the sidecar is busy (queue full, /readyz 503)', async () => {
    const result = await runDoctorCheck('pricing', ['--pricing-url', full.server.url]);
    expectCleanExit(result);
    expect(result.code).toBe(0);
    const check = soleCheck(result, 'pricing');
    expect(check.status).toBe('warn');
    expect(check.message).toBe(
      `pricing sidecar at ${new URL(full.server.url).host} is busy (queue full): 2 threads (0 busy), 0 queued; new quotes are refused with 503 QUEUE_FULL until the queue drains; if it stays busy, add --threads or replicas`,
    );
    expect(check.details).toMatchObject({ statusCode: 503, status: 'busy' });
  });

  it('fails with a one-line reason when nothing listens', async () => {
    const port = await closedPort();
    const result = await runMeskit(['doctor', '--only', 'pricing'], {
      MESKIT_PRICING_URL: `http://user:hunter22@127.0.0.1:${port}`,
    });
    expectCleanExit(result);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(
      new RegExp(
        `^FAIL\\s+pricing\\s+\\d+ ms\\s+cannot reach the pricing sidecar at 127\\.0\\.0\\.1:${port}: connection refused \\(is \`meskit pricing serve\` running there\\?\\)$`,
        'm',
      ),
    );
    expect(result.stdout + result.stderr).not.toContain('hunter22');
  });

  it('fails on a sidecar that accepts the connection but never answers, saying where it waited', async () => {
    const sockets = new Set<Socket>();
    const silent = createTcpServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const at = `127.0.0.1:${(silent.address() as AddressInfo).port}`;
    try {
      const result = await runDoctorCheck('pricing', [
        '--timeout-ms',
        '300',
        '--pricing-url',
        `http://u:hunter22@${at}`,
      ]);
      expectCleanExit(result);
      expect(result.code).toBe(1);
      expect(soleCheck(result, 'pricing')).toMatchObject({
        status: 'fail',
        message: `timed out after 300 ms while waiting for GET http://u:***@${at}/readyz (raise --timeout-ms if it is just slow)`,
      });
      expect(result.stdout).not.toContain('hunter22');
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('fails when the URL answers but is not the sidecar', async () => {
    const result = await runDoctorCheck('pricing', ['--pricing-url', otherUrl]);
    expectCleanExit(result);
    expect(result.code).toBe(1);
    expect(soleCheck(result, 'pricing')).toMatchObject({
      status: 'fail',
      message: `GET ${otherUrl}/readyz answered 404 Not Found "<h1>Not Found</h1>", not the pricing sidecar's readiness; point --pricing-url at \`meskit pricing serve\` (port 8790 by default)`,
    });
  });

  it('skips when not configured, naming the flag and the variable', async () => {
    const result = await runMeskit(['doctor', '--json', '--only', 'pricing'], {
      MESKIT_PRICING_URL: '',
    });
    expectCleanExit(result);
    expect(result.code).toBe(0);
    expect(soleCheck(result, 'pricing')).toMatchObject({
      status: 'skip',
      message: 'not configured: pass --pricing-url or set MESKIT_PRICING_URL',
    });
  });

  it('refuses a URL that is not http(s) before running anything (exit 2)', async () => {
    const result = await runMeskit(['doctor', '--pricing-url', 'redis://127.0.0.1:6379']);
    expectCleanExit(result);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      'invalid --pricing-url: expected a URL starting with http:// or https://, got "redis://127.0.0.1:6379"',
    );
  });
});
