import { mkdirSync, openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { Socket } from 'node:net';
import { locate } from './internal/install.js';
import {
  freePort,
  isAlive,
  signalGroup,
  spawnServer,
  waitForExit,
  waitUntil,
  stopGroup,
  tailFile,
} from './internal/proc.js';

/** Sends PING over a raw socket: no client library, so it also works to detect "down". */
export function redisPing(port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(port, '127.0.0.1', () => socket.write('PING\r\n'));
    socket.on('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}

/** A Redis server on loopback, without persistence. */
export class RedisServer {
  readonly port: number;
  readonly url: string;
  readonly #dir: string;
  #pid: number | undefined;

  constructor(port: number, dir: string, pid?: number) {
    this.port = port;
    this.url = `redis://127.0.0.1:${port}`;
    this.#dir = dir;
    this.#pid = pid;
  }

  get pid(): number | undefined {
    return this.#pid !== undefined && isAlive(this.#pid) ? this.#pid : undefined;
  }

  isRunning(): boolean {
    return this.pid !== undefined;
  }

  /** Starts Redis; `onSpawn` runs as soon as the process exists (to record its pid). */
  async start(onSpawn?: () => void): Promise<void> {
    if (this.isRunning()) return;
    mkdirSync(this.#dir, { recursive: true });
    const log = openSync(join(this.#dir, 'redis.log'), 'a');
    try {
      this.#pid = spawnServer(
        locate('redis'),
        [
          '--bind',
          '127.0.0.1',
          '--port',
          String(this.port),
          '--protected-mode',
          'yes',
          '--save',
          '',
          '--appendonly',
          'no',
          '--dir',
          this.#dir,
          '--daemonize',
          'no',
        ],
        { logFile: log },
      );
    } finally {
      closeSync(log);
    }
    onSpawn?.();
    await waitUntil(`Redis on port ${this.port}`, () => redisPing(this.port), {
      timeoutMs: 20_000,
      hint: () => this.logTail(),
    });
  }

  /** Graceful stop (SIGTERM, no save). */
  async stop(): Promise<void> {
    await stopGroup(this.pid);
  }

  /** SIGKILL: Redis vanishes mid-command, as in a crash. */
  async kill(): Promise<void> {
    const pid = this.pid;
    if (pid === undefined) return;
    signalGroup(pid, 'SIGKILL');
    await waitForExit(pid, 10_000);
  }

  logTail(lines = 20): string {
    return tailFile(join(this.#dir, 'redis.log'), lines);
  }
}

/**
 * Starts Redis on a free loopback port. `track` sees the handle before it is ready, so a
 * caller can stop it even if start-up fails or is interrupted.
 */
export async function startRedis(opts: {
  dir: string;
  track?: (server: RedisServer) => void;
  onSpawn?: () => void;
}): Promise<RedisServer> {
  const server = new RedisServer(await freePort(), join(opts.dir, 'redis'));
  opts.track?.(server);
  try {
    await server.start(opts.onSpawn);
  } catch (error) {
    await server.stop().catch(() => {});
    throw error;
  }
  return server;
}
