// The pool runs from the built package (dist), as users run it: the worker file is resolved
// next to the compiled pool. `npm test` builds first.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import {
  analyzeMesh,
  createPricingPool,
  MeshError,
  priceMesh,
  PricingPoolError,
  type PricingPool,
  type PricingPoolErrorCode,
} from '../dist/index.js';
import { TEST_DELAY_MS } from '../dist/internal/pool-protocol.js';
import { expectInvalidOption } from './invalid-option.js';
import { binaryStl, inverted, obj, torus, uvSphere } from './meshes.js';

const SLOW = { [TEST_DELAY_MS]: 10 * 60_000 }; // blocks the worker until it is terminated
const sphere = binaryStl(uvSphere(5, 16, 24));

const pools: PricingPool[] = [];
function pool(opts: Parameters<typeof createPricingPool>[0]): PricingPool {
  const created = createPricingPool(opts);
  pools.push(created);
  return created;
}
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

async function poolCode(promise: Promise<unknown>): Promise<PricingPoolErrorCode | 'no error'> {
  try {
    await promise;
    return 'no error';
  } catch (error) {
    expect(error).toBeInstanceOf(PricingPoolError);
    return (error as PricingPoolError).code;
  }
}

function inProcess(bytes: Uint8Array, alloy?: string) {
  const analysis = analyzeMesh(bytes);
  const price = analysis.confidence.volumeTrusted
    ? priceMesh(analysis, alloy === undefined ? {} : { alloy })
    : null;
  return { analysis, price };
}

describe('createPricingPool', () => {
  it('gives the same analysis and price as analyzeMesh + priceMesh in process', async () => {
    const p = pool({ threads: 2 });
    const ring = obj(torus(10, 1.5, 32, 16));
    const inside = binaryStl(inverted(uvSphere(4, 8, 12)));
    const expected = [inProcess(sphere), inProcess(ring, 'silver-925'), inProcess(inside)];
    const results = await Promise.all([
      p.submit(Buffer.from(sphere)),
      p.submit(Buffer.from(ring), { alloy: 'silver-925' }),
      p.submit(Buffer.from(inside)),
    ]);
    expect(results).toEqual(expected);
    expect(results[0]?.price?.total).toBeGreaterThan(0);
    expect(results[2]?.price).toBeNull(); // inside out: volume not trusted, not priced
    expect(p.stats()).toMatchObject({ threads: 2, busy: 0, queued: 0, completed: 3, failed: 0 });
  });

  it('transfers a buffer it owns whole (the caller’s is detached) and copies a slice', async () => {
    const p = pool({ threads: 1 });
    const owned = new Uint8Array(sphere);
    const larger = Buffer.concat([sphere, Buffer.alloc(16)]);
    const slice = larger.subarray(0, sphere.length);
    const [a, b] = await Promise.all([p.submit(owned), p.submit(slice)]);
    expect(owned.byteLength).toBe(0);
    expect(slice.equals(sphere)).toBe(true);
    expect(a).toEqual(b);
  });

  it('re-throws a MeshError from the worker with the same code and message', async () => {
    const p = pool({ threads: 1 });
    const truncated = sphere.subarray(0, sphere.length - 7);
    let local: unknown;
    try {
      analyzeMesh(truncated);
    } catch (error) {
      local = error;
    }
    expect(local).toBeInstanceOf(MeshError);
    const remote = await p.submit(truncated).catch((error: unknown) => error);
    expect(remote).toBeInstanceOf(MeshError);
    expect((remote as MeshError).code).toBe((local as MeshError).code);
    expect((remote as MeshError).message).toBe((local as MeshError).message);
    expect(p.stats()).toMatchObject({ completed: 0, failed: 1 });
  });

  it('rejects with QUEUE_FULL past maxQueue while a job runs', async () => {
    const p = pool({ threads: 1, maxQueue: 1 });
    const running = new AbortController();
    const waiting = new AbortController();
    const first = p.submit(Buffer.from(sphere), { ...SLOW, signal: running.signal });
    const second = p.submit(Buffer.from(sphere), { signal: waiting.signal });
    expect(await poolCode(p.submit(Buffer.from(sphere)))).toBe('QUEUE_FULL');
    expect(p.stats()).toMatchObject({ busy: 1, queued: 1, rejectedQueueFull: 1 });
    waiting.abort();
    running.abort();
    expect(await poolCode(second)).toBe('CANCELLED');
    expect(await poolCode(first)).toBe('CANCELLED');
  });

  it('cancels a queued job (removed) and a running job (worker replaced)', async () => {
    const p = pool({ threads: 1 });
    const running = new AbortController();
    const waiting = new AbortController();
    const first = p.submit(Buffer.from(sphere), { ...SLOW, signal: running.signal });
    const second = p.submit(Buffer.from(sphere), { signal: waiting.signal });
    waiting.abort();
    const cancelled = await second.catch((error: unknown) => error);
    expect(cancelled).toMatchObject({ code: 'CANCELLED', name: 'AbortError' });
    expect(p.stats()).toMatchObject({ busy: 1, queued: 0 });
    running.abort();
    expect(await poolCode(first)).toBe('CANCELLED');
    // The stuck worker was replaced: the pool still prices.
    expect(await p.submit(Buffer.from(sphere))).toEqual(inProcess(sphere));
    expect(p.stats()).toMatchObject({ threads: 1, busy: 0, completed: 1, failed: 2 });
  });

  it('rejects a job already aborted before submit', async () => {
    const p = pool({ threads: 1 });
    expect(await poolCode(p.submit(Buffer.from(sphere), { signal: AbortSignal.abort() }))).toBe(
      'CANCELLED',
    );
  });

  it('times out a job that runs too long, terminating and replacing its worker', async () => {
    const p = pool({ threads: 1, timeoutMs: 200 });
    expect(await poolCode(p.submit(Buffer.from(sphere), SLOW))).toBe('TIMEOUT');
    expect(await p.submit(Buffer.from(sphere))).toEqual(inProcess(sphere));
  });

  it('close() lets the running job finish, rejects queued ones, is safe twice', async () => {
    const p = createPricingPool({ threads: 1 });
    const running = p.submit(Buffer.from(sphere));
    const queued = p.submit(Buffer.from(sphere));
    const closed = p.close();
    expect(await poolCode(queued)).toBe('CLOSED');
    expect(await running).toEqual(inProcess(sphere));
    await closed;
    await p.close();
    expect(await poolCode(p.submit(Buffer.from(sphere)))).toBe('CLOSED');
    expect(p.stats()).toMatchObject({ busy: 0, queued: 0, completed: 1, failed: 1 });
  });

  it('refuses invalid options at construction, naming the option', () => {
    expectInvalidOption(() => createPricingPool({ threads: 0 }), 'createPricingPool', 'threads');
    expectInvalidOption(() => createPricingPool({ maxQueue: -1 }), 'createPricingPool', 'maxQueue');
    expectInvalidOption(
      () => createPricingPool({ timeoutMs: 1.5 }),
      'createPricingPool',
      'timeoutMs',
      /must be an integer from 1 to 2147483647, got 1\.5/,
    );
    // Longer than a Node timer can wait: it would fire at once and time out every job.
    expectInvalidOption(
      () => createPricingPool({ timeoutMs: 3_000_000_000 }),
      'createPricingPool',
      'timeoutMs',
    );
    expectInvalidOption(() => createPricingPool(null as never), 'createPricingPool', 'options');
  });

  it('does not keep the process alive: a script that never calls close() exits', async () => {
    const entry = fileURLToPath(new URL('../dist/index.js', import.meta.url));
    const script = `
      import { createPricingPool } from ${JSON.stringify(entry)};
      const pool = createPricingPool({ threads: 2 });
      const r = await pool.submit(new Uint8Array(0)).catch((e) => e.code + ': ' + e.message);
      console.log(r);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(0);
    // Also guards workers starting under `node --input-type=module -e` (flag not inherited).
    expect(out.trim()).toMatch(/^EMPTY: /);
  });

  it('starts its workers in a host run with V8 flags (--max-old-space-size...), from a file or from -e', async () => {
    const entry = fileURLToPath(new URL('../dist/index.js', import.meta.url));
    const script = `
      import { createPricingPool } from ${JSON.stringify(entry)};
      const pool = createPricingPool({ threads: 1 });
      const r = await pool.submit(new Uint8Array(0)).catch((e) => e.code);
      await pool.close();
      console.log(r);`;
    const dir = mkdtempSync(join(tmpdir(), 'meskit-pool-flags-'));
    const file = join(dir, 'host.mjs');
    writeFileSync(file, script);
    // Flags a worker may not be given (ERR_WORKER_INVALID_EXEC_ARGV), which ops teams set.
    const v8 = ['--max-old-space-size=512', '--max-semi-space-size=16', '--stack-trace-limit=50'];
    try {
      for (const argv of [
        [...v8, file],
        [...v8, '--input-type=module', '-e', script],
      ]) {
        const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
        child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
        const [code] = (await once(child, 'exit')) as [number | null];
        // The worker ran the job: an empty file is refused by the worker, as EMPTY.
        expect({ code, out: out.trim() }, err).toEqual({ code: 0, out: 'EMPTY' });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
