// The real binaries, spawned: dist/main.js and dist/seed-cli.js (build first: tsc -b).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateRingStl, legacyPrice } from '../src/index.js';
import { deadPort } from '@meskit/testkit';
import {
  createTestDatabase,
  deleteTopology,
  serviceUrls,
  uniqueName,
  type TestDatabase,
} from './helpers.js';

const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const SEED_CLI = fileURLToPath(new URL('../dist/seed-cli.js', import.meta.url));

let db: TestDatabase;
let modelDir: string;
const exchange = uniqueName('test.main.events');
const queue = uniqueName('test.main.inbox');

beforeAll(async () => {
  if (!existsSync(MAIN) || !existsSync(SEED_CLI)) {
    throw new Error('dist/ is missing: run `npx tsc -b examples/reference-mes` before these tests');
  }
  db = await createTestDatabase();
  modelDir = await mkdtemp(join(tmpdir(), 'mes-main-'));
});

afterAll(async () => {
  await deleteTopology(serviceUrls().amqpUrl, exchange, queue).catch(() => undefined);
  await db?.drop();
  if (modelDir) await rm(modelDir, { recursive: true, force: true });
});

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns with exactly `env` (plus PATH): nothing leaks in from the test process. */
function run(script: string, args: string[], env: Record<string, string>): Run {
  const child = spawn(process.execPath, [script, ...args], {
    env: { PATH: process.env['PATH'] ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** Resolves with the parsed first stdout line; rejects if the process exits first. */
function listeningLine(r: Run): Promise<{ event: string; url: string }> {
  return new Promise((resolve, reject) => {
    const onData = (): void => {
      const newline = r.stdout().indexOf('\n');
      if (newline >= 0) {
        r.child.stdout!.off('data', onData);
        resolve(JSON.parse(r.stdout().slice(0, newline)) as { event: string; url: string });
      }
    };
    r.child.stdout!.on('data', onData);
    void r.exited.then(({ code }) =>
      reject(new Error(`exited (${code}) before listening; stderr: ${r.stderr()}`)),
    );
  });
}

function mesEnv(): Record<string, string> {
  return {
    DATABASE_URL: db.url,
    AMQP_URL: serviceUrls().amqpUrl,
    MES_EXCHANGE: exchange,
    MES_QUEUE: queue,
    MES_PORT: '0',
    MES_MODEL_DIR: modelDir,
  };
}

describe('dist/main.js', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)(
    'prints one listening line, serves /health, and exits 0 on %s',
    async (signal) => {
      const mes = run(MAIN, [], mesEnv());
      try {
        const line = await listeningLine(mes);
        expect(line).toEqual({
          event: 'listening',
          url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
        });
        const health = await fetch(`${line.url}/health`);
        expect(health.status).toBe(200);
        expect(await health.json()).toEqual({ status: 'ok' });
        mes.child.kill(signal);
        expect(await mes.exited).toEqual({ code: 0, signal: null });
        expect(mes.stdout().trim().split('\n')).toHaveLength(1);
        // stderr is the pino log: JSON lines only, nothing at warn or above, one per request.
        const logLines = mes
          .stderr()
          .trim()
          .split('\n')
          .map((text) => JSON.parse(text) as Record<string, unknown>);
        expect(logLines.filter((l) => Number(l['level']) >= 40)).toEqual([]);
        expect(logLines.filter((l) => l['event'] === 'request')).toEqual([
          expect.objectContaining({
            level: 30,
            method: 'GET',
            route: '/health',
            status: 200,
            durationMs: expect.any(Number),
          }),
        ]);
      } finally {
        mes.child.kill('SIGKILL');
      }
    },
  );

  it('MES_PAGES_API_URL: the page reads its list there (502 when it is down), logged by route', async () => {
    const port = await deadPort();
    const mes = run(MAIN, [], { ...mesEnv(), MES_PAGES_API_URL: `http://127.0.0.1:${port}` });
    try {
      const { url } = await listeningLine(mes);
      const statuses: number[] = [];
      for (const path of [
        '/operators?operator=1',
        '/operators/orders/987654',
        '/operators/orders/x',
      ]) {
        const res = await fetch(`${url}${path}`);
        expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
        statuses.push(res.status);
        await res.arrayBuffer();
      }
      expect(statuses).toEqual([502, 404, 400]);
      mes.child.kill('SIGTERM');
      expect(await mes.exited).toEqual({ code: 0, signal: null });
      const lines = mes
        .stderr()
        .trim()
        .split('\n')
        .map((text) => JSON.parse(text) as Record<string, unknown>);
      expect(lines.find((l) => l['event'] === 'started')).toMatchObject({
        pagesApi: `http://127.0.0.1:${port}`,
      });
      // The route names stay low-cardinality: no ids in them.
      expect(lines.filter((l) => l['event'] === 'request').map((l) => l['route'])).toEqual([
        '/operators',
        '/operators/orders/:id',
        '/operators/orders/:id',
      ]);
      expect(lines.filter((l) => l['event'] === 'pages_api_failed')).toEqual([
        expect.objectContaining({
          level: 40,
          url: `http://127.0.0.1:${port}`,
          reason: expect.stringContaining('ECONNREFUSED'),
        }),
      ]);
    } finally {
      mes.child.kill('SIGKILL');
    }
  });

  it('MES_PRICING=offload prices uploads with the legacy formula in a worker thread, from dist', async () => {
    // Its own database: the seeder's test counts the orders of the shared one.
    const own = await createTestDatabase();
    const env = { ...mesEnv(), DATABASE_URL: own.url };
    const mes = run(MAIN, [], { ...env, MES_PRICING: 'offload', MES_LOG_LEVEL: 'warn' });
    try {
      const { url } = await listeningLine(mes);
      const model = generateRingStl({ triangles: 2_000 });
      const reply = await fetch(`${url}/api/b2b/orders?externalId=${uniqueName('main-offload')}`, {
        method: 'POST',
        headers: { 'content-type': 'model/stl' },
        body: model,
      });
      expect(reply.status).toBe(201);
      expect(await reply.json()).toMatchObject({
        price: legacyPrice(model).price,
        pricing: { engine: 'offload', cached: false },
      });
      mes.child.kill('SIGTERM');
      expect(await mes.exited).toEqual({ code: 0, signal: null });
      expect(mes.stderr()).toBe('');
    } finally {
      mes.child.kill('SIGKILL');
      await mes.exited;
      await own.drop();
    }
  });

  it('exits non-zero with one clear line when DATABASE_URL is missing', async () => {
    const mes = run(MAIN, [], { MES_PORT: '0', MES_MODEL_DIR: modelDir });
    const { code } = await mes.exited;
    expect(code).not.toBe(0);
    expect(mes.stdout()).toBe('');
    expect(mes.stderr().trim().split('\n')).toHaveLength(1);
    expect(mes.stderr()).toMatch(/^reference-mes: DATABASE_URL is not set/);
  });

  it('exits non-zero naming the database, without its password, when it is unreachable', async () => {
    const mes = run(MAIN, [], {
      DATABASE_URL: 'postgres://mes:hunter2@127.0.0.1:1/mes',
      MES_PORT: '0',
      MES_MODEL_DIR: modelDir,
    });
    const { code } = await mes.exited;
    expect(code).not.toBe(0);
    expect(mes.stderr()).toMatch(
      /^reference-mes: cannot connect to PostgreSQL at postgres:\/\/mes:\*\*\*@127\.0\.0\.1:1\/mes/,
    );
    expect(mes.stderr()).not.toContain('hunter2');
    expect(mes.stderr().trim().split('\n')).toHaveLength(1);
  });

  it.each([
    [{ MES_PORT: 'eighty' }, /MES_PORT must be an integer/],
    [{ MES_PRICING_WORK: '-2' }, /MES_PRICING_WORK must be a number > 0/],
    [{ AMQP_URL: 'http://localhost' }, /AMQP_URL must start with amqp:\/\//],
    [{ MES_LOG_LEVEL: 'loud' }, /MES_LOG_LEVEL must be one of fatal, error/],
    [{ MES_PRICING: 'fast' }, /MES_PRICING must be one of legacy, offload, runner/],
    [
      { MES_PAGES_API_URL: 'redis://127.0.0.1:8090' },
      /MES_PAGES_API_URL must start with http:\/\//,
    ],
    [
      { MES_PAGES_API_URL: 'http://u:p@127.0.0.1:8090' },
      /pagesApiUrl .*must not carry credentials/,
    ],
  ])('exits non-zero for bad config %j', async (patch, message) => {
    const mes = run(MAIN, [], { ...mesEnv(), ...patch });
    const { code } = await mes.exited;
    expect(code).not.toBe(0);
    expect(mes.stderr()).toMatch(message);
  });
});

describe('dist/seed-cli.js', () => {
  it('seeds N orders, printing progress and the time', async () => {
    const seed = run(SEED_CLI, ['--orders', '2500', '--batch-size', '1000'], {
      DATABASE_URL: db.url,
    });
    expect((await seed.exited).code).toBe(0);
    expect(seed.stdout()).toContain('1000/2500 (40%)');
    expect(seed.stdout()).toMatch(/seeded 2500 orders in \d+\.\d s/);
    const count = await db.query<{ n: string }>('SELECT count(*) AS n FROM orders');
    expect(Number(count.rows[0]!.n)).toBe(2500);
  });

  it('exits non-zero with usage when --orders is missing', async () => {
    const seed = run(SEED_CLI, [], { DATABASE_URL: db.url });
    expect((await seed.exited).code).not.toBe(0);
    expect(seed.stderr()).toMatch(/--orders is required/);
  });
});
