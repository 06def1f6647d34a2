// MESKIT_LOG_FORMAT / logFormat, on real processes (test/fixtures/log-lines.mjs under
// `--import`): with `ecs` the root logger's stdout lines are Elastic Common Schema documents
// that Filebeat ships as they are, still redacted and still shipped to Loki with the usual
// labels; without it the lines are pino's, as before; a malformed value is reported.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../src/index.js';
import { resolveConfig } from '../src/internal/config/resolve.js';
import {
  startLokiReceiver,
  startOtlpReceiver,
  type LokiReceiver,
  type OtlpReceiver,
} from './peers/index.js';
import { spawnApp, type SpawnedApp } from './helpers.js';

interface Done extends Record<string, unknown> {
  traceId: string;
  spanId: string;
}

type Line = Record<string, unknown>;

const SECRET = 'S3cret-pw';
const TOKEN = 'tok-9f8e7d6c';
const ISO_8601_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

let otlp: OtlpReceiver;
let loki: LokiReceiver;

beforeAll(async () => {
  otlp = await startOtlpReceiver();
  loki = await startLokiReceiver();
});

afterAll(async () => {
  await otlp?.close();
  await loki?.close();
});

async function runLogLines(
  env: Record<string, string>,
): Promise<{ app: SpawnedApp; done: Done; line: (message: string) => Line }> {
  const app = spawnApp({
    flag: '--import',
    app: 'log-lines.mjs',
    env: {
      OTEL_SERVICE_NAME: 'log-lines',
      MESKIT_ENV: 'test',
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
      OTEL_BSP_SCHEDULE_DELAY: '50',
      MESKIT_METRICS_PORT: 'off',
      ...env,
    },
  });
  const done = await app.waitForEvent<Done>('done');
  expect(await app.exited).toEqual({ code: 0, signal: null });
  const line = (message: string): Line => {
    const found = app.jsonLines().find((l) => l['message'] === message || l['msg'] === message);
    if (found === undefined) throw new Error(`no stdout line "${message}" in:\n${app.stdout()}`);
    return found;
  };
  return { app, done, line };
}

/** The fields every ECS line must have, with their types, and none of pino's own. */
function expectEcsDocument(line: Line, level: string, message: string, pid: number): void {
  expect(line).toMatchObject({
    '@timestamp': expect.stringMatching(ISO_8601_UTC),
    'log.level': level,
    message,
    'ecs.version': expect.stringMatching(/^\d+\.\d+\.\d+$/),
    'service.name': 'log-lines',
    'service.environment': 'test',
    'process.pid': pid,
    'host.hostname': expect.any(String),
  });
  expect(Number.isFinite(Date.parse(line['@timestamp'] as string))).toBe(true);
  // pino's names would clash with ECS's (`host` and `service` are objects there).
  for (const key of ['level', 'time', 'msg', 'pid', 'host', 'hostname', 'service', 'env']) {
    expect(line, `pino field "${key}" in an ECS line`).not.toHaveProperty([key]);
  }
  expect(line).not.toHaveProperty(['trace_id']);
}

describe('MESKIT_LOG_FORMAT=ecs', () => {
  let run: Awaited<ReturnType<typeof runLogLines>>;

  beforeAll(async () => {
    loki.clear();
    run = await runLogLines({
      MESKIT_LOG_FORMAT: 'ecs',
      MESKIT_LOKI_URL: loki.url,
      MESKIT_LOKI_BATCH_INTERVAL_MS: '50',
      MESKIT_LOG_STDOUT: 'true',
    });
  });

  it('writes every root logger line as an ECS document: required fields, their types, no pino fields', () => {
    const { app, line } = run;
    expectEcsDocument(line('outside any span'), 'info', 'outside any span', app.pid);
    expectEcsDocument(line('order taken'), 'info', 'order taken', app.pid);
    expectEcsDocument(line('take failed'), 'error', 'take failed', app.pid);
    expectEcsDocument(line('child logger line'), 'warn', 'child logger line', app.pid);
    expect(line('order taken')).toMatchObject({ orderId: 42 });
    expect(line('child logger line')).toMatchObject({ module: 'router' });
    // A child logger's line carries the ECS fields once: Elasticsearch refuses duplicate keys.
    const childRaw =
      app
        .stdout()
        .split('\n')
        .find((l) => l.includes('child logger line')) ?? '';
    for (const key of ['ecs.version', 'service.name', 'process.pid', 'host.hostname']) {
      expect(childRaw.split(`"${key}":`), `"${key}" in ${childRaw}`).toHaveLength(2);
    }
  });

  it("puts the active span's ids in trace.id and span.id, and none outside a span", async () => {
    const { done, line } = run;
    const span = await otlp.waitForSpan((s) => s.name === 'take order');
    expect([span.traceId, span.spanId]).toEqual([done.traceId, done.spanId]);
    for (const message of ['order taken', 'take failed', 'child logger line']) {
      expect(line(message)).toMatchObject({
        message,
        'trace.id': done.traceId,
        'span.id': done.spanId,
      });
    }
    expect(line('outside any span')).not.toHaveProperty(['trace.id']);
    expect(line('outside any span')).not.toHaveProperty(['span.id']);
  });

  it('turns an Error logged under err into error.type, error.message and error.stack_trace', () => {
    const failed = run.line('take failed');
    expect(failed['error']).toEqual({
      type: 'RangeError',
      message: 'lot 7 is closed (postgres://mes:***@db:5432/mes)',
      stack_trace: expect.stringMatching(
        /^RangeError: lot 7 is closed[^\n]*\n\s+at .*log-lines\.mjs/,
      ),
    });
    expect(failed).not.toHaveProperty(['err']);
  });

  it('masks secrets in ECS lines as in pino lines: fields, error message and stack', () => {
    expect(run.line('order taken')).toMatchObject({
      message: 'order taken',
      databaseUrl: 'postgres://mes:***@db:5432/mes',
      apiToken: '***',
    });
    expect(run.app.stdout()).not.toContain(SECRET);
    expect(run.app.stdout()).not.toContain(TOKEN);
  });

  it("ships the same lines to Loki with the service, env and level labels and the line's own time", async () => {
    const shipped = await loki.waitForLine(
      (l) => l.json?.['message'] === 'take failed' && l.json['service.name'] === 'log-lines',
    );
    expect(shipped.labels).toEqual({ service: 'log-lines', env: 'test', level: 'error' });
    const written = run.line('take failed');
    expect(shipped.timestampNs).toBe(`${Date.parse(written['@timestamp'] as string)}000000`);
    const document = shipped.json ?? {};
    expect([document['log.level'], document['trace.id']]).toEqual(['error', run.done.traceId]);
    expect(document['error']).toMatchObject({ type: 'RangeError' });
    const info = await loki.waitForLine((l) => l.json?.['message'] === 'order taken');
    expect(info.labels['level']).toBe('info');
    expect(loki.lines.map((l) => l.line).join('\n')).not.toContain(SECRET);
  });

  it("leaves the application's own pino lines as the application writes them, trace_id included", async () => {
    const own = run.line('own pino logger line');
    expect(own).toMatchObject({ level: 30, logger: 'own', trace_id: run.done.traceId });
    expect(own).not.toHaveProperty(['ecs.version']);
    const shipped = await loki.waitForLine((l) => l.json?.['msg'] === 'own pino logger line');
    expect(shipped.json).toMatchObject({ trace_id: run.done.traceId, service: 'log-lines' });
  });
});

describe('the default format', () => {
  it('is pino: level, time, msg, pid, host, service, env, trace_id, err, and no ECS field', async () => {
    const { app, done, line } = await runLogLines({});
    expect(line('order taken')).toMatchObject({
      level: 30,
      time: expect.any(Number),
      msg: 'order taken',
      pid: app.pid,
      host: expect.any(String),
      service: 'log-lines',
      env: 'test',
      trace_id: done.traceId,
      span_id: done.spanId,
      trace_flags: '01',
      databaseUrl: 'postgres://mes:***@db:5432/mes',
    });
    expect(line('take failed')['err']).toMatchObject({ type: 'RangeError' });
    for (const l of app.jsonLines().filter((j) => j['event'] !== 'done')) {
      for (const key of ['@timestamp', 'log.level', 'message', 'ecs.version', 'trace.id']) {
        expect(l).not.toHaveProperty([key]);
      }
    }
  });
});

describe('a malformed MESKIT_LOG_FORMAT', () => {
  it('is reported once, naming the variable and the fallback, and the lines stay pino', async () => {
    const { app, line } = await runLogLines({ MESKIT_LOG_FORMAT: 'elastic' });
    expect(app.warningCount('MESKIT_OTEL_INVALID_CONFIG')).toBe(1);
    expect(app.stderr()).toContain(
      'MESKIT_LOG_FORMAT="elastic" is not one of pino, ecs; using pino',
    );
    expect(line('order taken')).toMatchObject({ level: 30, msg: 'order taken' });
  });

  it('resolves MESKIT_LOG_FORMAT case-insensitively, the option over it, and reports a bad value', () => {
    expect(resolveConfig({}, {}).config.logs.format).toBe('pino');
    expect(resolveConfig({}, { MESKIT_LOG_FORMAT: 'ECS' }).config.logs.format).toBe('ecs');
    expect(
      resolveConfig({ logFormat: 'pino' }, { MESKIT_LOG_FORMAT: 'ecs' }).config.logs.format,
    ).toBe('pino');
    const bad = resolveConfig({}, { MESKIT_LOG_FORMAT: 'json' });
    expect(bad.config.logs.format).toBe('pino');
    expect(bad.problems).toEqual([
      {
        variable: 'MESKIT_LOG_FORMAT',
        message: 'MESKIT_LOG_FORMAT="json" is not one of pino, ecs; using pino',
      },
    ]);
  });

  it('throws InvalidOptionError for a logFormat option that is not pino or ecs', () => {
    let thrown: unknown;
    try {
      resolveConfig({ logFormat: 'elk' as never }, {});
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(InvalidOptionError);
    expect(thrown).toMatchObject({ code: 'INVALID_OPTION', option: 'logFormat' });
    expect((thrown as Error).message).toMatch(
      /option logFormat must be one of pino, ecs, got "elk"/,
    );
  });
});

describe('logFormat in code', () => {
  it('switches a root logger the application took before startTelemetry() to ECS', async () => {
    const fixture = fileURLToPath(new URL('./fixtures/late-start.mjs', import.meta.url));
    const child = spawn(process.execPath, [fixture], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      env: { PATH: process.env['PATH'] ?? '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const lines = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Line);
    expect(lines[0]).toMatchObject({ level: 30, msg: 'before the start' });
    expect(lines[1]).toMatchObject({
      'log.level': 'info',
      message: 'after the start',
      orderId: 43,
      'service.name': 'late-start',
      'service.environment': 'test',
      'ecs.version': expect.any(String),
    });
    expect(lines[1]).not.toHaveProperty(['msg']);
    expect(lines[2]).toMatchObject({ message: 'child after the start', module: 'router' });
    // Bindings set later carry no second copy of the ECS fields (Elasticsearch refuses
    // duplicate keys).
    expect(lines[3]).toMatchObject({ message: 'after setBindings', plant: 'p2' });
    const raw = stdout.split('\n')[3] ?? '';
    for (const key of ['ecs.version', 'service.name', 'service.environment', 'event.dataset']) {
      expect(raw.split(`"${key}":`), `"${key}" in ${raw}`).toHaveLength(2);
    }
    expect(lines[4]).toEqual({ event: 'done', sameLogger: true });
  });
});
