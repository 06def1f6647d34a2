// Spawning the fixture applications the way users run theirs: `node --import|--require
// @meskit/otel-bootstrap/register <app>`, with this test run's Node.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { existsSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { ReceivedSpan } from './peers/index.js';

const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));
const FIXTURES_DIR = fileURLToPath(new URL('./fixtures/', import.meta.url));
const BUILT_ENTRY = fileURLToPath(new URL('../dist/src/register.js', import.meta.url));

// Settings the bootstrap reads: scrubbed so each test says what it configures.
const TELEMETRY_ENV = /^(OTEL_|MESKIT_(METRICS|LOG|LOKI|ENV)|NODE_OPTIONS$|FIXTURE_)/;
/**
 * The run's replica serves the run's `postgres` database, not the one a test creates: an app
 * given it would read its tables there. A test that wants a replica passes its own URL.
 */
const NOT_INHERITED = new Set(['DATABASE_REPLICA_URL']);

export interface SpawnedApp {
  readonly pid: number;
  /** Resolves with the first stdout JSON line whose `event` is `event` (e.g. listening). */
  waitForEvent<T extends Record<string, unknown>>(event: string): Promise<T>;
  /** Everything written so far. */
  stdout(): string;
  stderr(): string;
  /** stdout lines that parse as JSON objects. */
  jsonLines(): Record<string, unknown>[];
  /** How many warnings with this code the process printed. */
  warningCount(code: string): number;
  /** Resolves once stderr contains `text`; rejects if the process exits first. */
  waitForStderr(text: string): Promise<void>;
  kill(signal?: NodeJS.Signals): void;
  /** Resolves when the process has exited (and its output is complete). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface SpawnOptions {
  /** `--import` (ESM apps) or `--require` (CommonJS apps). */
  readonly flag: '--import' | '--require';
  /** File name under test/fixtures, or the absolute path of another application's entry point. */
  readonly app: string;
  readonly env?: Readonly<Record<string, string>>;
}

export function spawnApp(options: SpawnOptions): SpawnedApp {
  if (!existsSync(BUILT_ENTRY)) {
    throw new Error(
      'packages/otel-bootstrap is not built: run `npx tsc -b packages/otel-bootstrap` before the tests',
    );
  }
  const env: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!TELEMETRY_ENV.test(name) && !NOT_INHERITED.has(name)) env[name] = value;
  }
  Object.assign(env, options.env);
  const child: ChildProcessByStdio<null, Readable, Readable> = spawn(
    process.execPath,
    [
      options.flag,
      '@meskit/otel-bootstrap/register',
      isAbsolute(options.app) ? options.app : `${FIXTURES_DIR}${options.app}`,
    ],
    // cwd is the package: `--import @meskit/otel-bootstrap/register` resolves from there.
    { cwd: PACKAGE_DIR, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  const lineListeners = new Set<(line: Record<string, unknown>) => void>();
  let pending = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    pending += chunk;
    let newline: number;
    while ((newline = pending.indexOf('\n')) !== -1) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      const parsed = parseJsonObject(line);
      if (parsed) for (const listener of lineListeners) listener(parsed);
    }
  });
  const stderrListeners = new Set<() => void>();
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    for (const listener of stderrListeners) listener();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
    (resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code, signal) => resolve({ code, signal }));
    },
  );

  return {
    pid: child.pid ?? -1,
    waitForEvent<T extends Record<string, unknown>>(event: string): Promise<T> {
      const already = stdout
        .split('\n')
        .map(parseJsonObject)
        .find((line) => line?.['event'] === event);
      if (already) return Promise.resolve(already as T);
      return new Promise<T>((resolve, reject) => {
        const listener = (line: Record<string, unknown>): void => {
          if (line['event'] !== event) return;
          lineListeners.delete(listener);
          resolve(line as T);
        };
        lineListeners.add(listener);
        // An app that dies before printing the event must fail the test with its output.
        void exited.then(({ code, signal }) => {
          if (!lineListeners.has(listener)) return;
          lineListeners.delete(listener);
          reject(
            new Error(
              `${options.app} exited (code ${code}, signal ${signal}) before printing "${event}"\nstdout:\n${stdout}\nstderr:\n${stderr}`,
            ),
          );
        });
      });
    },
    stdout: () => stdout,
    stderr: () => stderr,
    jsonLines: () =>
      stdout
        .split('\n')
        .map(parseJsonObject)
        .filter((line): line is Record<string, unknown> => line !== undefined),
    warningCount: (code: string) => stderr.split(`[${code}]`).length - 1,
    waitForStderr(text: string): Promise<void> {
      if (stderr.includes(text)) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const listener = (): void => {
          if (!stderr.includes(text)) return;
          stderrListeners.delete(listener);
          resolve();
        };
        stderrListeners.add(listener);
        void exited.then(({ code, signal }) => {
          if (!stderrListeners.has(listener)) return;
          stderrListeners.delete(listener);
          reject(
            new Error(
              `${options.app} exited (code ${code}, signal ${signal}) before stderr said "${text}"\nstderr:\n${stderr}`,
            ),
          );
        });
      });
    },
    kill: (signal: NodeJS.Signals = 'SIGTERM') => {
      child.kill(signal);
    },
    exited,
  };
}

function parseJsonObject(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(line);
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

export { uniqueName } from '@meskit/testkit';

/** The spans of pg queries (instrumentation-pg names them `pg.query:<verb> <db>`). */
export function isPgQuery(span: ReceivedSpan): boolean {
  return span.name.startsWith('pg.query');
}

/** Span ids from `span`'s parent up to the root. */
export function ancestors(span: ReceivedSpan, trace: readonly ReceivedSpan[]): string[] {
  const byId = new Map(trace.map((s) => [s.spanId, s]));
  const chain: string[] = [];
  let parent = span.parentSpanId;
  while (parent !== undefined && !chain.includes(parent)) {
    chain.push(parent);
    parent = byId.get(parent)?.parentSpanId;
  }
  return chain;
}

/** `url` with a password added to its userinfo (the services run with trust authentication). */
export function withPassword(url: string, password: string): string {
  const parsed = new URL(url);
  parsed.password = password;
  return parsed.href;
}
