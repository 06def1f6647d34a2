import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** The reference MES running as its own process, as it runs in production. */
export interface MesProcess {
  url: string;
  child: ChildProcess;
  /** SIGTERM, then SIGKILL after 10 s; safe to call twice. */
  stop(): Promise<void>;
}

/** Path of the reference MES's runnable entry point (built). */
export function mesMainPath(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('@meskit/reference-mes/package.json')), 'dist', 'main.js');
}

export interface SpawnOptions {
  env: Record<string, string>;
  /** Node flags before the script, e.g. ['--import', '@meskit/otel-bootstrap/register']. */
  execArgv?: string[];
  /** Arguments after the script (a CLI's command, e.g. ['cache-proxy']). Default: none. */
  args?: string[];
  onStderr?: (line: string) => void;
  /**
   * Write the child's stderr (its logs) to this file instead of a pipe read here. For load
   * tests: a pipe drained by this process couples the server's log writes to this process's
   * load (a full pipe stalls synchronous loggers). Not combined with `onStderr`.
   */
  stderrFile?: string;
}

/**
 * Spawns `node [execArgv] reference-mes/dist/main.js` with `env` added to this process's
 * environment and resolves once it prints its listening line.
 */
export function spawnMes(opts: SpawnOptions): Promise<MesProcess> {
  return spawnListening(mesMainPath(), opts);
}

/**
 * Spawns `node [execArgv] script` and resolves once it prints the reference MES's listening
 * line (`{"event":"listening","url":...}`) on stdout.
 */
export async function spawnListening(script: string, opts: SpawnOptions): Promise<MesProcess> {
  if (opts.stderrFile !== undefined && opts.onStderr !== undefined)
    throw new TypeError('spawnListening: give either stderrFile or onStderr, not both');
  const stderrFd = opts.stderrFile === undefined ? undefined : openSync(opts.stderrFile, 'w');
  const child = spawn(process.execPath, [...(opts.execArgv ?? []), script, ...(opts.args ?? [])], {
    // Loopback whatever the caller's shell says: benchmarks and the demo load this address.
    env: { ...process.env, MES_PORT: '0', ...opts.env, MES_HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', stderrFd ?? 'pipe'],
  });
  if (stderrFd !== undefined) closeSync(stderrFd); // the child holds its own copy
  const stderr: string[] = [];
  if (child.stderr !== null) {
    createInterface({ input: child.stderr }).on('line', (line) => {
      stderr.push(line);
      if (stderr.length > 50) stderr.shift();
      opts.onStderr?.(line);
    });
  }
  const lastLines = () =>
    opts.stderrFile === undefined
      ? stderr.join('\n')
      : readFileSync(opts.stderrFile, 'utf8').split('\n').slice(-50).join('\n');
  const url = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const onExit = (code: number | null) =>
      reject(
        new Error(`the reference MES exited (${String(code)}) before listening:\n${lastLines()}`),
      );
    child.once('exit', onExit);
    lines.on('line', (line) => {
      try {
        const event = JSON.parse(line) as { event?: string; url?: string };
        if (event.event === 'listening' && event.url) {
          child.off('exit', onExit);
          resolve(event.url);
        }
      } catch {
        /* not a JSON line */
      }
    });
  });
  let stopped: Promise<void> | undefined;
  return {
    url,
    child,
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        child.kill('SIGTERM');
      });
      return stopped;
    },
  };
}
