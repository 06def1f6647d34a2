// `meskit doctor` as users run it: the real binary, spawned with this run's Node, against
// the real PostgreSQL primary + replica, Redis and RabbitMQ of the test services.
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestCa } from '@meskit/testkit';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { CheckResult, DoctorReport } from '../src/index.js';
import {
  closedPort,
  expectCleanExit,
  runDoctorCheck,
  runMeskit,
  type BinResult,
} from './helpers.js';

const provided = inject('services');

/** The URL of a shared service; these tests need all of them. */
function service(name: 'DATABASE_URL' | 'DATABASE_REPLICA_URL' | 'REDIS_URL' | 'AMQP_URL'): string {
  const url = provided[name];
  if (!url)
    throw new Error(`${name} is not provided by the test services (vitest.global-setup.ts)`);
  return url;
}
const services = {
  DATABASE_URL: service('DATABASE_URL'),
  DATABASE_REPLICA_URL: service('DATABASE_REPLICA_URL'),
  REDIS_URL: service('REDIS_URL'),
  AMQP_URL: service('AMQP_URL'),
};

function parseReport(result: BinResult): DoctorReport {
  return JSON.parse(result.stdout) as DoctorReport;
}

function byId(report: DoctorReport, id: string): CheckResult {
  const found = report.checks.find((check) => check.id === id);
  if (!found) throw new Error(`no result for ${id} in ${JSON.stringify(report)}`);
  return found;
}

async function listen(server: Server | ReturnType<typeof createTcpServer>): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

function close(server: Server | ReturnType<typeof createTcpServer>): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

// A stand-in MES: /ok/health answers 200, /down/health 503 with a reason.
let mes: Server;
let mesBase: string;
// Accepts connections and never says a word: every client waits for its handshake.
let silent: ReturnType<typeof createTcpServer>;
let silentPort: number;
const silentSockets = new Set<Socket>();

beforeAll(async () => {
  mes = createHttpServer((req, res) => {
    if (req.url === '/ok/health') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    } else if (req.url === '/down/health') {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end('{"status":"down","reason":"database unreachable"}');
    } else {
      res.writeHead(404).end();
    }
  });
  mesBase = `http://127.0.0.1:${await listen(mes)}`;
  silent = createTcpServer((socket) => {
    silentSockets.add(socket);
    socket.on('error', () => {});
    socket.once('close', () => silentSockets.delete(socket));
  });
  silentPort = await listen(silent);
});

afterAll(async () => {
  mes.closeAllConnections();
  await close(mes);
  for (const socket of silentSockets) socket.destroy();
  await close(silent);
});

describe('meskit doctor against the running services', () => {
  it('passes every configured check, configured through the environment', async () => {
    const result = await runMeskit(['doctor'], {
      DATABASE_URL: services.DATABASE_URL,
      DATABASE_REPLICA_URL: services.DATABASE_REPLICA_URL,
      REDIS_URL: services.REDIS_URL,
      AMQP_URL: services.AMQP_URL,
      MESKIT_MES_URL: `${mesBase}/ok`,
      // No mq-reliable consumer runs here: the mq check finds none of these and skips.
      MESKIT_MQ_QUEUES: 'test.doctor.no-such-queue',
    });
    expectCleanExit(result);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^STATUS\s+CHECK\s+TIME\s+MESSAGE$/);
    for (const id of [
      'postgres.primary',
      'postgres.replica',
      'db-router',
      'redis',
      'rabbitmq',
      'mes',
    ]) {
      expect(lines).toContainEqual(
        expect.stringMatching(new RegExp(`^PASS\\s+${id.replace('.', '\\.')}\\s`)),
      );
    }
    // The telemetry checks (otel.collector, otel.metrics, loki), pricing and cache-proxy are not
    // configured here; mq has no queue to report.
    expect(lines.at(-1)).toBe('OK: 6 passed, 0 warned, 0 failed, 6 skipped (12 checks)');
  });

  it('--json prints one parsable object with versions, replication state and durations', async () => {
    const result = await runMeskit([
      'doctor',
      '--json',
      '--database-url',
      services.DATABASE_URL,
      '--replica-url',
      services.DATABASE_REPLICA_URL,
      '--redis-url',
      services.REDIS_URL,
      '--amqp-url',
      services.AMQP_URL,
      '--mes-url',
      `${mesBase}/ok/`,
    ]);
    expectCleanExit(result);
    expect(result.code).toBe(0);
    const report = parseReport(result);
    expect(report.ok).toBe(true);
    expect(report.checks.map((c) => c.id)).toEqual([
      'postgres.primary',
      'postgres.replica',
      'db-router',
      'redis',
      'rabbitmq',
      'mq',
      'mes',
      'otel.collector',
      'otel.metrics',
      'loki',
      'pricing',
      'cache-proxy',
    ]);
    const configured = [
      'postgres.primary',
      'postgres.replica',
      'db-router',
      'redis',
      'rabbitmq',
      'mes',
    ];
    for (const check of report.checks.filter((c) => configured.includes(c.id))) {
      expect(check).toMatchObject({ status: 'pass', title: expect.any(String) });
      expect(Number.isInteger(check.durationMs)).toBe(true);
    }
    expect(byId(report, 'postgres.primary').message).toMatch(
      /^PostgreSQL \d+\.\d+ at 127\.0\.0\.1:\d+/,
    );
    expect(byId(report, 'postgres.replica').details).toMatchObject({
      inRecovery: true,
      walReceiverStatus: 'streaming',
      lagBytes: expect.any(Number),
    });
    expect(byId(report, 'redis').message).toMatch(/^Redis \d+\.\d+\.\d+ at /);
    expect(byId(report, 'rabbitmq').message).toMatch(
      /^RabbitMQ \d+\.\d+\.\d+ at .*channel opened; not encrypted$/,
    );
    // Each connection says whether it is encrypted (the shared test servers' plain listeners).
    for (const id of ['postgres.primary', 'postgres.replica', 'redis', 'rabbitmq'])
      expect(byId(report, id).details, id).toMatchObject({ tls: { encrypted: false } });
    // The AMQP URL carries guest:guest; the report must not.
    expect(result.stdout).not.toContain('guest:guest');
  });

  it('connects over TLS with the run CA and reports each connection encrypted, with its certificate expiry', async () => {
    const tls = {
      database: process.env['DATABASE_TLS_URL'],
      replica: process.env['DATABASE_REPLICA_TLS_URL'],
      redis: process.env['REDIS_TLS_URL'],
      amqp: process.env['AMQP_TLS_URL'],
    };
    expect(Object.values(tls).every(Boolean), 'the services run has no TLS listeners').toBe(true);
    const result = await runMeskit([
      'doctor',
      '--json',
      '--only',
      'postgres.primary,postgres.replica,redis,rabbitmq',
      '--database-url',
      tls.database!,
      '--replica-url',
      tls.replica!,
      '--redis-url',
      tls.redis!,
      '--amqp-url',
      tls.amqp!,
    ]);
    expectCleanExit(result);
    const report = parseReport(result);
    for (const id of ['postgres.primary', 'postgres.replica', 'redis', 'rabbitmq']) {
      const check = byId(report, id);
      // The run's certificates live 30 days: outside the 14-day warning window.
      expect(check.status, `${id}: ${check.message}`).toBe('pass');
      expect(check.message).toMatch(
        /TLS \(TLSv1\.[23]\), certificate valid until \d{4}-\d\d-\d\d \(\d+ days left\)$/,
      );
      expect(check.details, id).toMatchObject({
        tls: { encrypted: true, certificateExpires: expect.any(String) },
      });
    }
    // A CA that did not sign the servers' certificates: the connection is refused, saying why.
    const dir = mkdtempSync(join(tmpdir(), 'meskit-doctor-ca-'));
    try {
      const otherCa = createTestCa(dir, 'other').ca.file;
      const refused = await runMeskit([
        'doctor',
        '--json',
        '--only',
        'redis',
        '--redis-url',
        tls.redis!.replace(/ssl_ca_certs=[^&]+/, `ssl_ca_certs=${encodeURIComponent(otherCa)}`),
      ]);
      const redis = byId(parseReport(refused), 'redis');
      expect(redis.status).toBe('fail');
      expect(redis.message).toMatch(/certificate/i);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails the mes check when /health answers 503, and exits 1', async () => {
    const result = await runDoctorCheck('mes', ['--mes-url', `${mesBase}/down`]);
    expectCleanExit(result);
    expect(result.code).toBe(1);
    const mesResult = byId(parseReport(result), 'mes');
    expect(mesResult.status).toBe('fail');
    expect(mesResult.message).toBe(
      `GET ${mesBase}/down/health answered 503 Service Unavailable, expected 2xx`,
    );
    expect(mesResult.details).toMatchObject({
      statusCode: 503,
      body: expect.stringContaining('database unreachable'),
    });
  });

  it('fails the primary check when --database-url points at a standby', async () => {
    const result = await runMeskit([
      'doctor',
      '--only',
      'postgres.primary',
      '--database-url',
      services.DATABASE_REPLICA_URL,
    ]);
    expectCleanExit(result);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(
      /FAIL\s+postgres\.primary\s+\d+ ms\s+127\.0\.0\.1:\d+ is a standby \(in recovery\), not a primary: point --database-url/,
    );
  });

  it('fails the replica check when --replica-url points at the primary', async () => {
    const result = await runDoctorCheck('postgres.replica', [
      '--replica-url',
      services.DATABASE_URL,
    ]);
    expectCleanExit(result);
    expect(result.code).toBe(1);
    expect(byId(parseReport(result), 'postgres.replica').message).toMatch(
      /^127\.0\.0\.1:\d+ is not a replica \(not in recovery/,
    );
  });

  it('fails Redis at a closed port with a clear one-line message', async () => {
    const port = await closedPort();
    const result = await runMeskit([
      'doctor',
      '--only',
      'redis',
      '--redis-url',
      `redis://:hunter22@127.0.0.1:${port}`,
    ]);
    expectCleanExit(result);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(
      `cannot connect to Redis at 127.0.0.1:${port}: connection refused`,
    );
    expect(result.stdout + result.stderr).not.toContain('hunter22');
  });

  it('fails RabbitMQ and PostgreSQL at a closed port with clear messages', async () => {
    const port = await closedPort();
    const result = await runMeskit([
      'doctor',
      '--json',
      '--amqp-url',
      `amqp://u:hunter22@127.0.0.1:${port}`,
      '--database-url',
      `postgres://u:hunter22@127.0.0.1:${port}/db`,
    ]);
    expectCleanExit(result);
    expect(result.code).toBe(1);
    const report = parseReport(result);
    expect(byId(report, 'rabbitmq').message).toBe(
      `cannot connect to RabbitMQ at 127.0.0.1:${port}: connection refused`,
    );
    expect(byId(report, 'postgres.primary').message).toBe(
      `cannot connect to the PostgreSQL primary at 127.0.0.1:${port}: connection refused`,
    );
    expect(byId(report, 'redis').status).toBe('skip');
  });

  it('times out checks whose server never answers, says where, and still exits promptly', async () => {
    // Nothing here may keep the process alive after the report: main.ts would say so on stderr.
    const at = `127.0.0.1:${silentPort}`;
    const result = await runMeskit([
      'doctor',
      '--json',
      '--timeout-ms',
      '300',
      '--database-url',
      `postgres://u:hunter22@${at}/db`,
      '--replica-url',
      `postgres://u:hunter22@${at}/db`,
      '--redis-url',
      `redis://:hunter22@${at}`,
      '--amqp-url',
      `amqp://u:hunter22@${at}`,
      '--mes-url',
      `http://u:hunter22@${at}`,
    ]);
    expectCleanExit(result);
    expect(result.code).toBe(1);
    const report = parseReport(result);
    expect(report.checks.map((c) => c.status)).toEqual([
      ...['fail', 'fail', 'fail', 'fail', 'fail', 'fail', 'fail'],
      ...['skip', 'skip', 'skip', 'skip', 'skip'],
    ]);
    expect(byId(report, 'postgres.primary').message).toBe(
      `timed out after 300 ms while connecting to the PostgreSQL primary at ${at} (raise --timeout-ms if it is just slow)`,
    );
    expect(byId(report, 'redis').message).toContain(
      `timed out after 300 ms while connecting to Redis at ${at}`,
    );
    expect(byId(report, 'rabbitmq').message).toContain(
      `timed out after 300 ms while connecting to RabbitMQ at ${at}`,
    );
    expect(byId(report, 'mq').message).toContain(
      `timed out after 300 ms while connecting to RabbitMQ at ${at} to read the queues`,
    );
    expect(byId(report, 'mes').message).toContain(
      `while waiting for GET http://u:***@${at}/health`,
    );
    expect(result.stdout).not.toContain('hunter22');
  });
});

describe('meskit usage', () => {
  it('--help works for the root command and for doctor, with the exit codes', async () => {
    const root = await runMeskit(['--help']);
    expectCleanExit(root);
    expect(root.code).toBe(0);
    expect(root.stdout).toContain('Usage: meskit');
    expect(root.stdout).toContain('Exit codes:');
    const doctor = await runMeskit(['doctor', '--help']);
    expectCleanExit(doctor);
    expect(doctor.code).toBe(0);
    expect(doctor.stdout).toContain('Usage: meskit doctor [options]');
    expect(doctor.stdout).toContain('--max-lag-seconds');
    expect(doctor.stdout).toContain('70  internal error');
  });

  it('--version prints the version', async () => {
    const result = await runMeskit(['--version']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });

  it('exits 2 on an unknown option, with commander’s message', async () => {
    const result = await runMeskit(['doctor', '--no-such-flag']);
    expectCleanExit(result);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("error: unknown option '--no-such-flag'");
    expect(result.stdout).toBe('');
  });

  it('exits 2 on an invalid URL in the environment, without printing its password', async () => {
    const result = await runMeskit(['doctor'], { REDIS_URL: 'http://:hunter22@cache:6379' });
    expectCleanExit(result);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('invalid REDIS_URL (environment)');
    expect(result.stderr).not.toContain('hunter22');
  });
});
