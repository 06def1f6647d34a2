// `meskit pricing serve` as ops run it: the real binary, a quote over HTTP, a clean stop on
// SIGTERM, and bad settings refused with exit 2 before anything listens.
import { spawn } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { generateRingStl } from '@meskit/reference-mes';
import { STACK_TRACE, runMeskit } from './helpers.js';

const BIN = fileURLToPath(new URL('../bin/meskit.js', import.meta.url));

describe('meskit pricing serve', () => {
  it('prints its URL, answers quotes, and stops cleanly on SIGTERM', async () => {
    const child = spawn(
      process.execPath,
      [BIN, 'pricing', 'serve', '--port', '0', '--threads', '1'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout }).once('line', (line) => {
          const event = JSON.parse(line) as { event: string; url: string };
          if (event.event === 'listening') resolve(event.url);
          else reject(new Error(`unexpected first line: ${line}`));
        });
        child.once('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
      });
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const model = generateRingStl({ triangles: 2_000 });
      const response = await fetch(`${url}/v1/quotes?alloy=gold-585`, {
        method: 'POST',
        body: model,
        headers: { 'content-type': 'model/stl' },
      });
      const quote = (await response.json()) as { price: { total: number; alloy: string } };
      expect(response.status).toBe(200);
      expect(quote.price.alloy).toBe('gold-585');
      expect(quote.price.total).toBeGreaterThan(0);
      const broken = await fetch(`${url}/v1/quotes`, {
        method: 'POST',
        body: model.subarray(0, 100),
      });
      expect(broken.status).toBe(422);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(stderr).toContain('SIGTERM');
    expect(stderr).not.toMatch(STACK_TRACE);
  });

  it('refuses bad settings with exit 2 and a message naming them', async () => {
    const badPort = await runMeskit(['pricing', 'serve', '--port', 'eighty']);
    expect(badPort.code).toBe(2);
    expect(badPort.stderr).toMatch(/--port/);
    const badEnv = await runMeskit(['pricing', 'serve'], { MESKIT_PRICING_THREADS: '0' });
    expect(badEnv.code).toBe(2);
    expect(badEnv.stderr).toContain('MESKIT_PRICING_THREADS');
    const badRedis = await runMeskit(['pricing', 'serve', '--redis-url', 'localhost:6379']);
    expect(badRedis.code).toBe(2);
    expect(badRedis.stderr).toContain('--redis-url');
    // In range for the flag's parser, refused by the library: the message names the flag.
    const badTimeout = await runMeskit(['pricing', 'serve', '--timeout-ms', '3000000000']);
    expect(badTimeout.code).toBe(2);
    expect(badTimeout.stderr).toMatch(
      /invalid --timeout-ms: must be an integer from 1 to 2147483647/,
    );
    for (const result of [badPort, badEnv, badRedis, badTimeout])
      expect(result.stderr).not.toMatch(STACK_TRACE);
  });

  it('exits 1 with LISTEN_FAILED when the port is taken', async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = holder.address() as AddressInfo;
      const result = await runMeskit([
        'pricing',
        'serve',
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        '--threads',
        '1',
      ]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`cannot listen on 127.0.0.1:${port}`);
      expect(result.stderr).toMatch(/address already in use/);
      expect(result.stderr).not.toMatch(STACK_TRACE);
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });
});
