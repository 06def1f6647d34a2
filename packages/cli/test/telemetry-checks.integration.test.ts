// The doctor checks for @meskit/otel-bootstrap's backends, through the real binary: the OTLP
// collector (against the OTLP test receiver), a service's /metrics (served by otel-bootstrap
// itself) and Loki (against the Loki test receiver and a stand-in without /ready).
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTelemetry, type Telemetry } from '@meskit/otel-bootstrap';
import {
  startLokiReceiver,
  startOtlpReceiver,
  type LokiReceiver,
  type OtlpReceiver,
} from '@meskit/otel-bootstrap/testing';
import { createTestCa } from '@meskit/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CheckResult, DoctorReport } from '../src/index.js';
import { closedPort, LINGERING, runMeskit, STACK_TRACE, type BinResult } from './helpers.js';

// Every telemetry setting the checks read, unset: each test sets what it needs.
const UNSET = {
  OTEL_EXPORTER_OTLP_ENDPOINT: '',
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '',
  OTEL_EXPORTER_OTLP_HEADERS: '',
  OTEL_EXPORTER_OTLP_TRACES_HEADERS: '',
  OTEL_EXPORTER_OTLP_CERTIFICATE: '',
  OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE: '',
  MESKIT_METRICS_URL: '',
  MESKIT_LOKI_URL: '',
  MESKIT_LOKI_HEADERS: '',
};

async function doctor(
  env: Record<string, string>,
): Promise<{ result: BinResult; report: DoctorReport }> {
  const result = await runMeskit(['doctor', '--json', '--only', 'otel,loki'], { ...UNSET, ...env });
  expect(result.signal).toBeNull();
  expect(result.stderr).not.toMatch(STACK_TRACE);
  expect(result.stderr).not.toMatch(LINGERING);
  return { result, report: JSON.parse(result.stdout) as DoctorReport };
}

function byId(report: DoctorReport, id: string): CheckResult {
  const found = report.checks.find((check) => check.id === id);
  if (!found) throw new Error(`no result for ${id} in ${JSON.stringify(report)}`);
  return found;
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('meskit doctor: telemetry checks', () => {
  let otlp: OtlpReceiver;
  let loki: LokiReceiver;
  let telemetry: Telemetry;

  beforeAll(async () => {
    otlp = await startOtlpReceiver();
    loki = await startLokiReceiver();
    // A real otel-bootstrap /metrics endpoint, in this test process (tracing off: nothing here
    // needs instrumenting).
    telemetry = startTelemetry({
      tracing: false,
      metricsPort: 0,
      logStdout: false,
      handleSignals: false,
    });
  });

  afterAll(async () => {
    await telemetry?.shutdown();
    await otlp?.close();
    await loki?.close();
  });

  it('skips all three when nothing is configured, naming the variables', async () => {
    const { result, report } = await doctor({});
    expect(result.code).toBe(0);
    expect(report.checks.map((c) => [c.id, c.status, c.message])).toEqual([
      ['otel.collector', 'skip', 'not configured: set OTEL_EXPORTER_OTLP_ENDPOINT'],
      ['otel.metrics', 'skip', expect.stringMatching(/^not configured: set MESKIT_METRICS_URL/)],
      ['loki', 'skip', 'not configured: set MESKIT_LOKI_URL'],
    ]);
  });

  describe('otel.collector', () => {
    it('passes when the endpoint accepts an empty OTLP/JSON export, sending OTEL_EXPORTER_OTLP_HEADERS', async () => {
      const { result, report } = await doctor({
        OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
        OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=s3cret-key-value',
      });
      expect(result.code).toBe(0);
      const check = byId(report, 'otel.collector');
      expect(check.status).toBe('pass');
      expect(check.message).toBe(
        `OTLP/HTTP endpoint ${new URL(otlp.url).host}/v1/traces accepted an empty trace export (200 OK); not encrypted`,
      );
      expect(otlp.exports.at(-1)).toMatchObject({
        spanCount: 0,
        headers: { 'x-api-key': 's3cret-key-value' },
      });
      expect(result.stdout).not.toContain('s3cret-key-value');
    });

    it('verifies an https endpoint against OTEL_EXPORTER_OTLP_CERTIFICATE and reports its certificate', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'meskit-doctor-tls-'));
      const ca = createTestCa(dir, 'collector');
      const leaf = ca.issue('collector', 'DNS:localhost,IP:127.0.0.1', { days: 90 });
      const secure = await startOtlpReceiver({ tls: { cert: leaf.cert.pem, key: leaf.key.pem } });
      try {
        const trusted = await doctor({
          OTEL_EXPORTER_OTLP_ENDPOINT: secure.url,
          OTEL_EXPORTER_OTLP_CERTIFICATE: ca.ca.file,
        });
        const check = byId(trusted.report, 'otel.collector');
        expect(check.status).toBe('pass');
        expect(check.message).toMatch(
          /accepted an empty trace export \(200 OK\); TLS \(TLSv1\.[23]\), certificate valid until \d{4}-\d\d-\d\d \(8\d days left\)$/,
        );
        expect(check.details).toMatchObject({
          tls: { encrypted: true, certificateSubject: 'collector' },
        });
        // Without the CA the endpoint's certificate is not trusted: a failure that says why.
        const untrusted = await doctor({ OTEL_EXPORTER_OTLP_ENDPOINT: secure.url });
        const failed = byId(untrusted.report, 'otel.collector');
        expect(failed.status).toBe('fail');
        expect(failed.message).toMatch(/certificate/i);
      } finally {
        await secure.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('fails with a hint when the receiver does not take JSON', async () => {
      otlp.respondWith(415);
      try {
        const { result, report } = await doctor({
          OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: otlp.tracesUrl,
        });
        expect(result.code).toBe(1);
        expect(byId(report, 'otel.collector').message).toMatch(
          /answered 415 Unsupported Media Type, expected 2xx: the receiver does not take OTLP\/JSON/,
        );
      } finally {
        otlp.respondWith(undefined);
      }
    });

    it('fails saying where when nothing listens', async () => {
      const port = await closedPort();
      const { result, report } = await doctor({
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
      });
      expect(result.code).toBe(1);
      expect(byId(report, 'otel.collector')).toMatchObject({
        status: 'fail',
        message: `cannot reach the OTLP endpoint 127.0.0.1:${port}/v1/traces: connection refused`,
      });
    });

    it('fails on an endpoint that is not a URL', async () => {
      const { report } = await doctor({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' });
      expect(byId(report, 'otel.collector')).toMatchObject({
        status: 'fail',
        message: expect.stringMatching(/^OTEL_EXPORTER_OTLP_ENDPOINT is not an http\(s\) URL/),
      });
    });
  });

  describe('otel.metrics', () => {
    it("passes on otel-bootstrap's /metrics, given as the base address or the full URL", async () => {
      const metricsUrl = (await telemetry.metricsUrl()) as string;
      for (const given of [metricsUrl, metricsUrl.replace(/\/metrics$/, '')]) {
        const { result, report } = await doctor({ MESKIT_METRICS_URL: given });
        expect(result.code).toBe(0);
        const check = byId(report, 'otel.metrics');
        expect(check.status).toBe('pass');
        expect(check.message).toMatch(
          new RegExp(`^GET ${new URL(metricsUrl).host}/metrics serves \\d+ metric families`),
        );
        expect(check.details).toMatchObject({ families: expect.any(Number) });
      }
    });

    it('fails when the address serves something that is not the Prometheus text format', async () => {
      const html = createServer((_req, res) =>
        res.writeHead(200, { 'content-type': 'text/html' }).end('<html></html>'),
      );
      const base = await listen(html);
      try {
        const { result, report } = await doctor({ MESKIT_METRICS_URL: base });
        expect(result.code).toBe(1);
        expect(byId(report, 'otel.metrics').message).toMatch(
          /answered, but not with the Prometheus text format \(content-type "text\/html"/,
        );
      } finally {
        await new Promise((resolve) => html.close(resolve));
      }
    });
  });

  describe('loki', () => {
    it('passes when GET /ready answers', async () => {
      const { result, report } = await doctor({ MESKIT_LOKI_URL: loki.url });
      expect(result.code).toBe(0);
      expect(byId(report, 'loki').message).toBe(
        `Loki at ${new URL(loki.url).host} is ready (GET /ready answered 200 OK); not encrypted`,
      );
    });

    it('falls back to an empty push where /ready does not exist, with the credentials and tenant header, and never prints them', async () => {
      const seen: IncomingMessage[] = [];
      const gateway = createServer((req, res) => {
        seen.push(req);
        if (req.method === 'POST' && req.url === '/tenant-a/loki/api/v1/push')
          res.writeHead(204).end();
        else res.writeHead(404).end();
      });
      const base = await listen(gateway);
      try {
        const withAuth = new URL(`${base}/tenant-a`);
        withAuth.username = 'plant2';
        withAuth.password = 'l0ki-pa55';
        const { result, report } = await doctor({
          MESKIT_LOKI_URL: withAuth.href,
          MESKIT_LOKI_HEADERS: 'X-Scope-OrgID=plant2',
        });
        expect(result.code).toBe(0);
        expect(byId(report, 'loki').message).toMatch(
          /^Loki push API at 127\.0\.0\.1:\d+ accepted an empty push \(204 No Content; it has no \/ready\); not encrypted$/,
        );
        const push = seen.find((req) => req.method === 'POST');
        expect(push?.headers['authorization']).toBe(
          `Basic ${Buffer.from('plant2:l0ki-pa55').toString('base64')}`,
        );
        expect(push?.headers['x-scope-orgid']).toBe('plant2');
        expect(result.stdout + result.stderr).not.toContain('l0ki-pa55');
      } finally {
        await new Promise((resolve) => gateway.close(resolve));
      }
    });

    it('fails with a hint about credentials on 401', async () => {
      loki.respondWith(401);
      try {
        const { result, report } = await doctor({ MESKIT_LOKI_URL: loki.url });
        expect(result.code).toBe(1);
        expect(byId(report, 'loki').message).toMatch(
          /GET 127\.0\.0\.1:\d+\/ready answered 401 Unauthorized, expected 2xx: check the credentials/,
        );
      } finally {
        loki.respondWith(undefined);
      }
    });
  });
});
