import { mkdirSync, openSync, closeSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
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
import { fileParam, type TlsFiles } from './tls.js';

/**
 * Sends PING over a raw socket: no client library, so it also works to detect "down". With
 * `caFile`, over TLS with the chain verified against that CA (the TLS port; not the host
 * name: a test may serve a certificate for another name on purpose).
 */
export function redisPing(port: number, timeoutMs = 1_000, caFile?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket =
      caFile === undefined
        ? new Socket()
        : tlsConnect({
            port,
            host: '127.0.0.1',
            ca: readFileSync(caFile, 'utf8'),
            checkServerIdentity: () => undefined,
          });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    if (caFile === undefined) socket.connect(port, '127.0.0.1', () => socket.write('PING\r\n'));
    else socket.once('secureConnect', () => socket.write('PING\r\n'));
    socket.on('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}

/** A TLS port beside the plain one, and the certificates it serves. */
export interface RedisTls {
  port: number;
  files: TlsFiles;
}

/** How a Redis server runs beyond the defaults: a replica, a cluster node, a Sentinel. */
export interface RedisServerMode {
  /** Arguments before the options: a Sentinel's config file and `--sentinel`. */
  leading?: readonly string[];
  /** Options after the defaults (`--replicaof ...`, `--cluster-enabled yes`...). */
  extra?: readonly string[];
  /** Server options a Sentinel refuses (no persistence settings). Default true. */
  persistenceOff?: boolean;
}

/** A Redis server on loopback, without persistence; with TLS, a `tls-port` beside the plain one. */
export class RedisServer {
  readonly port: number;
  readonly url: string;
  /** The TLS listener, when started with certificates. */
  readonly tls: RedisTls | undefined;
  /**
   * `rediss://` on the TLS port, with the run's CA as `ssl_ca_certs` (read by the kernel's
   * `redisTls`); undefined without TLS.
   */
  readonly tlsUrl: string | undefined;
  readonly #dir: string;
  readonly #mode: RedisServerMode;
  #pid: number | undefined;

  constructor(port: number, dir: string, pid?: number, tls?: RedisTls, mode: RedisServerMode = {}) {
    this.port = port;
    this.url = `redis://127.0.0.1:${port}`;
    this.tls = tls;
    this.tlsUrl = tls
      ? `rediss://127.0.0.1:${tls.port}?${fileParam('ssl_ca_certs', tls.files.caFile)}`
      : undefined;
    this.#dir = dir;
    this.#mode = mode;
    this.#pid = pid;
  }

  /** The folder the server runs in (its log, a cluster node's nodes.conf). */
  get dir(): string {
    return this.#dir;
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
          ...(this.#mode.leading ?? []),
          '--bind',
          '127.0.0.1',
          '--port',
          String(this.port),
          '--protected-mode',
          'yes',
          ...(this.#mode.persistenceOff === false ? [] : ['--save', '', '--appendonly', 'no']),
          '--dir',
          this.#dir,
          '--daemonize',
          'no',
          ...(this.tls
            ? [
                '--tls-port',
                String(this.tls.port),
                '--tls-cert-file',
                this.tls.files.certFile,
                '--tls-key-file',
                this.tls.files.keyFile,
                '--tls-ca-cert-file',
                this.tls.files.caFile,
                // Clients are not asked for certificates of their own.
                '--tls-auth-clients',
                'no',
              ]
            : []),
          ...(this.#mode.extra ?? []),
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
    const tls = this.tls;
    if (tls)
      await waitUntil(
        `Redis TLS on port ${tls.port}`,
        () => redisPing(tls.port, 1_000, tls.files.caFile),
        { timeoutMs: 20_000, hint: () => this.logTail() },
      );
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
  /** Certificates for a TLS port beside the plain one. Default: none, no TLS. */
  tls?: TlsFiles;
}): Promise<RedisServer> {
  const port = await freePort();
  const tls = opts.tls ? { port: await freePort(), files: opts.tls } : undefined;
  const server = new RedisServer(port, join(opts.dir, 'redis'), undefined, tls);
  opts.track?.(server);
  try {
    await server.start(opts.onSpawn);
  } catch (error) {
    await server.stop().catch(() => {});
    throw error;
  }
  return server;
}
