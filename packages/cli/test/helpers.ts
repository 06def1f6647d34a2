// Shared by the tests: a config with nothing configured, an in-memory output stream, and a
// runner for the real `meskit` binary.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import type { CheckResult, DoctorConfig, DoctorReport, OutputStream } from '../src/index.js';

export function testConfig(overrides: Partial<DoctorConfig> = {}): DoctorConfig {
  return {
    databaseUrl: undefined,
    replicaUrl: undefined,
    redisUrl: undefined,
    amqpUrl: undefined,
    mesUrl: undefined,
    timeoutMs: 3_000,
    maxLagSeconds: 10,
    env: {},
    ...overrides,
  };
}

export class Collector implements OutputStream {
  text = '';
  readonly isTTY: boolean;
  constructor(isTTY = false) {
    this.isTTY = isTTY;
  }
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
}

const BIN = fileURLToPath(new URL('../bin/meskit.js', import.meta.url));
const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));

// Settings the doctor reads from the environment: scrubbed so each test says what it configures
// (with every MESKIT_CACHE_* variable, the settings of `meskit cache-proxy` and `meskit cache`).
const DOCTOR_ENV = [
  'DATABASE_URL',
  'DATABASE_REPLICA_URL',
  'REDIS_URL',
  'AMQP_URL',
  'MESKIT_MES_URL',
  'MESKIT_PRICING_URL',
  'MESKIT_CACHE_PROXY_URL',
  'MESKIT_DOCTOR_TIMEOUT_MS',
  'MESKIT_DOCTOR_MAX_LAG_SECONDS',
  'MESKIT_DEBUG',
  'FORCE_COLOR',
];

export interface BinResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `node packages/cli/bin/meskit.js ...args` with this test run's Node and waits for it to exit. */
export function runMeskit(
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<BinResult> {
  if (!existsSync(MAIN)) {
    throw new Error('packages/cli is not built: run `npx tsc -b packages/cli` before the tests');
  }
  const childEnv: Record<string, string | undefined> = { ...process.env };
  for (const name of DOCTOR_ENV) delete childEnv[name];
  for (const name of Object.keys(childEnv))
    if (name.startsWith('MESKIT_CACHE_') || name.startsWith('MESKIT_MQ_')) delete childEnv[name];
  Object.assign(childEnv, env);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: childEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** A stack trace line ("    at fn (file:1:2)") anywhere in the output. */
export const STACK_TRACE = /^\s+at\s.+[:(]/m;

/** What main.ts prints when a handle kept the process alive after the report (a leak). */
export const LINGERING = /stayed open/;

/** Asserts what every run promises: no stack trace, and nothing held the process open. */
export function expectCleanExit(result: BinResult): void {
  expect(result.signal).toBeNull();
  expect(result.stdout).not.toMatch(STACK_TRACE);
  expect(result.stderr).not.toMatch(STACK_TRACE);
  expect(result.stderr).not.toMatch(LINGERING);
}

/** `meskit doctor --json --only ID ...args`: one check, its report on stdout as JSON. */
export function runDoctorCheck(
  id: string,
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<BinResult> {
  return runMeskit(['doctor', '--json', '--only', id, ...args], env);
}

/** The one check a `doctor --only ID --json` run reported, after asserting it is the only one. */
export function soleCheck(result: BinResult, id: string): CheckResult {
  const report = JSON.parse(result.stdout) as DoctorReport;
  expect(report.checks.map((check) => check.id)).toEqual([id]);
  return report.checks[0] as CheckResult;
}

export { deadPort as closedPort } from '@meskit/testkit';
