import { execFile, execFileSync, spawn, spawnSync, type SpawnOptions } from 'node:child_process';
import { createServer } from 'node:net';
import { existsSync, readFileSync } from 'node:fs';
import { ServicesError } from '../errors.js';

/** The uid/gid a server must run as when we are root (PostgreSQL refuses to run as root). */
export interface RunAs {
  uid: number;
  gid: number;
  user: string;
  home: string;
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Looks a system user up; undefined when it does not exist or we are not root. */
export function systemUser(name: string): RunAs | undefined {
  if (!isRoot()) return undefined;
  try {
    const line = execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).trim();
    const [user, , uid, gid, , home] = line.split(':');
    if (!user || !uid || !gid) return undefined;
    return { user, uid: Number(uid), gid: Number(gid), home: home ?? '/' };
  } catch {
    return undefined;
  }
}

const handedOut = new Set<number>();

/** A free TCP port on 127.0.0.1, as the kernel hands it out; never the same one twice. */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await kernelPort();
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

function kernelPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new ServicesError('START_FAILED', 'could not obtain a free port'));
      });
    });
  });
}

/** Runs a command to completion; throws with its output when it fails. */
export function run(
  command: string,
  args: readonly string[],
  options: {
    runAs?: RunAs | undefined;
    env?: NodeJS.ProcessEnv;
    cwd?: string;
    timeoutMs?: number;
  } = {},
): string {
  const result = spawnSync(command, args, {
    encoding: 'utf8',
    env: options.env ?? process.env,
    cwd: options.cwd,
    timeout: options.timeoutMs ?? 120_000,
    ...(options.runAs ? { uid: options.runAs.uid, gid: options.runAs.gid } : {}),
  });
  if (result.error || result.status !== 0) {
    const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim();
    throw new ServicesError(
      'COMMAND_FAILED',
      `${command} ${args.join(' ')} failed (${result.error?.message ?? `exit ${String(result.status)}`})${output ? `:\n${output}` : ''}`,
      { cause: result.error },
    );
  }
  return result.stdout;
}

/** `run` without blocking the event loop: for commands polled while clients are connected. */
export function runAsync(
  command: string,
  args: readonly string[],
  options: { runAs?: RunAs | undefined; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      {
        encoding: 'utf8',
        env: options.env ?? process.env,
        timeout: options.timeoutMs ?? 120_000,
        killSignal: 'SIGKILL',
        ...(options.runAs ? { uid: options.runAs.uid, gid: options.runAs.gid } : {}),
      },
      (error, stdout, stderr) => {
        if (!error) {
          resolve(stdout);
          return;
        }
        const output = `${stdout}${stderr}`.trim();
        const status = error.killed ? 'timed out' : `exit ${String(error.code)}`;
        reject(
          new ServicesError(
            'COMMAND_FAILED',
            `${command} ${args.join(' ')} failed (${status})${output ? `:\n${output}` : ''}`,
            { cause: error },
          ),
        );
      },
    );
  });
}

/**
 * Starts a long-running server as a detached process group, so that it survives its
 * parent when asked to (the CLI's `start`) and can be stopped as a whole.
 */
export function spawnServer(
  command: string,
  args: readonly string[],
  options: { runAs?: RunAs | undefined; env?: NodeJS.ProcessEnv; logFile?: number } = {},
): number {
  const spawnOptions: SpawnOptions = {
    detached: true,
    stdio: ['ignore', options.logFile ?? 'ignore', options.logFile ?? 'ignore'],
    env: options.env ?? process.env,
    ...(options.runAs ? { uid: options.runAs.uid, gid: options.runAs.gid } : {}),
  };
  const child = spawn(command, args, spawnOptions);
  child.on('error', () => {
    /* reported by the readiness check that follows */
  });
  child.unref();
  if (child.pid === undefined) {
    throw new ServicesError('START_FAILED', `could not start ${command}`);
  }
  return child.pid;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Signals a process group (falling back to the process itself). */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

/** Polls `probe` until it returns true, or throws NOT_READY with the last error. */
export async function waitUntil(
  what: string,
  probe: () => Promise<boolean> | boolean,
  options: { timeoutMs?: number; intervalMs?: number; hint?: () => string } = {},
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  let lastError: unknown;
  for (;;) {
    try {
      if (await probe()) return;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const reason = lastError instanceof Error ? `: ${lastError.message}` : '';
      const hint = options.hint ? `\n${options.hint()}` : '';
      throw new ServicesError('NOT_READY', `${what} did not become ready${reason}${hint}`, {
        cause: lastError,
      });
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 100));
  }
}

/** Waits for a process to exit, up to a timeout; true when it did. */
export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}

/** SIGTERM to a process group, SIGKILL when it has not exited after `graceMs`. */
export async function stopGroup(pid: number | undefined, graceMs = 10_000): Promise<void> {
  if (pid === undefined) return;
  signalGroup(pid, 'SIGTERM');
  if (!(await waitForExit(pid, graceMs))) {
    signalGroup(pid, 'SIGKILL');
    if (!(await waitForExit(pid, 5_000))) {
      throw new ServicesError('STOP_FAILED', `process ${pid} survived SIGKILL`);
    }
  }
}

/** The last lines of a log file, for error messages ('' when there is none). */
export function tailFile(file: string, lines = 20): string {
  return existsSync(file)
    ? readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join('\n')
    : '';
}

const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * Calls `kill` (synchronous: signals only) when the process exits or is told to stop by a
 * signal, which would otherwise skip 'exit' handlers. After `kill`, the signal does what it
 * would have done, unless the host handles it itself. Returns the function that unhooks.
 */
export function onProcessEnd(kill: () => void): () => void {
  const onExit = () => kill();
  const onSignal = (signal: NodeJS.Signals) => {
    kill();
    unhook();
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  };
  const unhook = () => {
    process.removeListener('exit', onExit);
    for (const signal of STOP_SIGNALS) process.removeListener(signal, onSignal);
  };
  process.once('exit', onExit);
  for (const signal of STOP_SIGNALS) process.once(signal, onSignal);
  return unhook;
}
