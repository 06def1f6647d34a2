// `meskit cache-proxy` as ops run it: the real binary in front of a real reference MES (on the
// test PostgreSQL), a list page through it, its admin endpoint reached by `meskit cache`, a
// clean stop on SIGTERM, and bad settings refused with exit 2 before anything listens.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LINGERING, STACK_TRACE, runMeskit } from './helpers.js';
import { FIRST_PAGE, getPage, startReferenceMes, type TestMes } from './reference-mes.js';

const BIN = fileURLToPath(new URL('../bin/meskit.js', import.meta.url));
const TOKEN = 'cli-test-admin-token-6f1d2c';

let mes: TestMes;
beforeAll(async () => {
  mes = await startReferenceMes();
});
afterAll(async () => {
  await mes?.close();
});

interface Sidecar {
  child: ChildProcessByStdio<null, Readable, Readable>;
  listening: { event: string; url: string; adminUrl: string | null };
  exited: Promise<number | null>;
  stderr: () => string;
}

/** Spawns the sidecar with a clean environment plus `env`; resolves once it printed its line. */
async function startSidecar(args: string[], env: Record<string, string> = {}): Promise<Sidecar> {
  const childEnv: Record<string, string | undefined> = { ...process.env };
  for (const name of Object.keys(childEnv)) {
    if (name.startsWith('MESKIT_') || name === 'REDIS_URL' || name === 'AMQP_URL')
      delete childEnv[name];
  }
  const child = spawn(process.execPath, [BIN, 'cache-proxy', ...args], {
    env: { ...childEnv, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const listening = await new Promise<Sidecar['listening']>((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', (line) => {
      try {
        resolve(JSON.parse(line) as Sidecar['listening']);
      } catch {
        reject(new Error(`the first line is not JSON: ${line}`));
      }
    });
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
  });
  return { child, listening, exited, stderr: () => stderr };
}

describe('meskit cache-proxy', () => {
  it('serves the list like the MES, with Cache-Status, and stops cleanly on SIGTERM', async () => {
    const sidecar = await startSidecar(
      ['--upstream', mes.url, '--port', '0', '--admin-port', '0'],
      {
        MESKIT_CACHE_ADMIN_TOKEN: TOKEN,
      },
    );
    try {
      expect(sidecar.listening.event).toBe('listening');
      expect(sidecar.listening.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(sidecar.listening.adminUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const { url, adminUrl } = sidecar.listening;

      const direct = await getPage(mes.url, FIRST_PAGE);
      const first = await getPage(url, FIRST_PAGE);
      const second = await getPage(url, FIRST_PAGE);
      expect(direct.status).toBe(200);
      expect(direct.body.items.length).toBe(20);
      expect(first.status).toBe(200);
      expect(first.body).toEqual(direct.body);
      expect(first.cacheStatus).toBe('meskit; fwd=miss; stored');
      expect(second.body).toEqual(direct.body);
      expect(second.cacheStatus).toBe('meskit; hit');
      // Anything else passes through unchanged.
      const other = await fetch(`${url}/api/orders/${direct.body.items[0]!.id}`);
      expect(other.status).toBe(200);
      expect(other.headers.get('cache-status')).toBe('meskit; fwd=bypass');

      // The admin endpoint it announced answers `meskit cache stats`, another process.
      const stats = await runMeskit(['cache', 'stats', '--json', '--admin-url', adminUrl!], {
        MESKIT_CACHE_ADMIN_TOKEN: TOKEN,
      });
      expect(stats.stderr).toBe('');
      expect(stats.code).toBe(0);
      expect(JSON.parse(stats.stdout)).toMatchObject({
        store: 'memory',
        consumer: 'off',
        requests: { hit: 1, miss: 1, stale: 0, bypass: 0 },
        hitRatio: 0.5,
      });
    } finally {
      sidecar.child.kill('SIGTERM');
    }
    expect(await sidecar.exited).toBe(0);
    const stderr = sidecar.stderr();
    expect(stderr).toContain('SIGTERM');
    expect(stderr).toContain('no Redis configured');
    expect(stderr).toContain('no RabbitMQ configured');
    expect(stderr).not.toContain(TOKEN);
    expect(stderr).not.toMatch(STACK_TRACE);
    expect(stderr).not.toMatch(LINGERING);
  });

  it('takes its settings from the environment, REDIS_URL as the fallback of its own variable', async () => {
    const sidecar = await startSidecar([], {
      MESKIT_CACHE_UPSTREAM: mes.url,
      MESKIT_CACHE_PORT: '0',
      MESKIT_CACHE_STATUSES: 'MANUFACTURING_APPROVED,PRICE_CALCULATED',
      // Nothing listens there: the proxy starts anyway and forwards while Redis is down.
      REDIS_URL: 'redis://127.0.0.1:1',
    });
    try {
      expect(sidecar.listening.adminUrl).toBeNull();
      const page = await getPage(sidecar.listening.url, FIRST_PAGE);
      expect(page.status).toBe(200);
      expect(page.cacheStatus).toBe('meskit; fwd=bypass; detail=redis-error');
      expect(page.body).toEqual((await getPage(mes.url, FIRST_PAGE)).body);
    } finally {
      sidecar.child.kill('SIGINT');
    }
    expect(await sidecar.exited).toBe(0);
    expect(sidecar.stderr()).toContain('caching MANUFACTURING_APPROVED, PRICE_CALCULATED');
    expect(sidecar.stderr()).toContain('index in Redis at 127.0.0.1:1');
    expect(sidecar.stderr()).toContain('no admin token');
    expect(sidecar.stderr()).not.toMatch(STACK_TRACE);
    // Closing a client whose Redis never answered leaves no timer behind.
    expect(sidecar.stderr()).not.toMatch(LINGERING);
  });

  it('refuses to start without an upstream, naming the flag and the variable (exit 2)', async () => {
    const result = await runMeskit(['cache-proxy', '--port', '0']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      'error: no MES to proxy: pass --upstream http://<mes-host>:<port> or set MESKIT_CACHE_UPSTREAM\n',
    );
  });

  it('refuses bad settings with exit 2 before listening, never echoing the token', async () => {
    const badPort = await runMeskit(['cache-proxy', '--upstream', mes.url, '--port', 'eighty']);
    expect(badPort.code).toBe(2);
    expect(badPort.stderr).toBe(
      'error: invalid --port: expected a whole number from 0 to 65535, got "eighty"\n',
    );
    const badEnvPort = await runMeskit(['cache-proxy', '--upstream', mes.url], {
      MESKIT_CACHE_PORT: '70000',
    });
    expect(badEnvPort.code).toBe(2);
    expect(badEnvPort.stderr).toContain('invalid MESKIT_CACHE_PORT (environment)');
    const shortToken = await runMeskit(['cache-proxy', '--upstream', mes.url, '--port', '0'], {
      MESKIT_CACHE_ADMIN_TOKEN: 'hunter22',
    });
    expect(shortToken.code).toBe(2);
    expect(shortToken.stderr).toContain('MESKIT_CACHE_ADMIN_TOKEN');
    expect(shortToken.stderr).toContain('at least 16 characters');
    expect(shortToken.stderr).not.toContain('hunter22');
    const https = await runMeskit(['cache-proxy', '--upstream', 'https://mes.example:3000']);
    expect(https.code).toBe(2);
    expect(https.stderr).toContain('invalid --upstream: expected a URL starting with http://');
    const withPath = await runMeskit(['cache-proxy', '--upstream', `${mes.url}/api`]);
    expect(withPath.code).toBe(2);
    expect(withPath.stderr).toMatch(
      /^error: invalid --upstream: must be a base URL without a path/,
    );
    const fillDepth = await runMeskit([
      'cache-proxy',
      '--upstream',
      mes.url,
      '--fill-depth',
      '500',
    ]);
    expect(fillDepth.code).toBe(2);
    expect(fillDepth.stderr).toContain('invalid --fill-depth');
    for (const result of [badPort, badEnvPort, shortToken, https, withPath, fillDepth]) {
      expect(result.stdout).toBe('');
      expect(result.stderr).not.toMatch(STACK_TRACE);
    }
  });

  it('exits 1 with the reason when its port is taken (not an internal error)', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as { port: number };
    try {
      const result = await runMeskit([
        'cache-proxy',
        '--upstream',
        mes.url,
        '--port',
        String(port),
      ]);
      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr).toContain(`cannot listen on 127.0.0.1:${port}`);
      expect(result.stderr).toContain('address already in use');
      expect(result.stderr).not.toContain('internal error');
      expect(result.stderr).not.toMatch(STACK_TRACE);
      expect(result.stderr).not.toMatch(LINGERING);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });
});
