import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { redisPing, startServices } from '@meskit/services';

const baseDir = mkdtempSync(join(tmpdir(), 'meskit-cleanup-test-'));
afterAll(() => rmSync(baseDir, { recursive: true, force: true }));

/** Runs a child that starts Redis under `baseDir`, prints its port, then does `then`. */
async function childWithRedis(then: 'wait' | 'sigkill-self'): Promise<{
  port: number;
  dir: string;
  exited: Promise<NodeJS.Signals | number | null>;
  kill: (signal: NodeJS.Signals) => void;
}> {
  const script = `
    import { startServices } from '@meskit/services';
    const services = await startServices({ only: ['redis'], baseDir: ${JSON.stringify(baseDir)} });
    console.log(JSON.stringify({ port: services.redis.port, dir: services.dir }));
    if (${JSON.stringify(then)} === 'sigkill-self') process.kill(process.pid, 'SIGKILL');
    setInterval(() => {}, 1 << 30);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    cwd: join(import.meta.dirname, '..'),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) =>
    child.once('exit', (code, signal) => resolve(signal ?? code)),
  );
  for await (const line of createInterface({ input: child.stdout })) {
    const { port, dir } = JSON.parse(line) as { port: number; dir: string };
    return { port, dir, exited, kill: (signal) => child.kill(signal) };
  }
  throw new Error('the child printed nothing');
}

describe('servers never outlive the run that started them', () => {
  it('stops them when the owner gets SIGTERM, and the owner still dies of the signal', async () => {
    const child = await childWithRedis('wait');
    expect(await redisPing(child.port)).toBe(true);
    child.kill('SIGTERM');
    expect(await child.exited).toBe('SIGTERM');
    expect(await redisPing(child.port)).toBe(false);
  });

  it('regression: the next run reaps servers whose owner was SIGKILLed', async () => {
    const child = await childWithRedis('sigkill-self');
    expect(await child.exited).toBe('SIGKILL');
    // Nothing could run in the owner: its Redis is still there, orphaned.
    expect(await redisPing(child.port)).toBe(true);
    const next = await startServices({ only: ['redis'], baseDir });
    try {
      expect(await redisPing(child.port)).toBe(false);
      expect(existsSync(child.dir)).toBe(false);
    } finally {
      await next.close();
    }
  });
});
