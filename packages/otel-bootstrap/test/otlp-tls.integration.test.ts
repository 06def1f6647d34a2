// Traces to an https OTLP endpoint signed by a private CA (a managed collector behind a
// company CA): OTEL_EXPORTER_OTLP_CERTIFICATE names the CA, and the export thread verifies the
// endpoint against it. With another CA, or a name the certificate does not carry, nothing is
// sent: the failure is warned and counted, and the application goes on.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestCa, type IssuedCertificate } from '@meskit/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnApp } from './helpers.js';
import { startOtlpReceiver, type OtlpReceiver } from './peers/index.js';

describe('OTLP over https with a private CA', () => {
  let dir: string;
  let trustedCa: string;
  let otherCa: string;
  let otlp: OtlpReceiver;
  let wrongName: OtlpReceiver;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'otel-bootstrap-tls-'));
    const trusted = createTestCa(dir, 'trusted');
    otherCa = createTestCa(dir, 'other').ca.file;
    trustedCa = trusted.ca.file;
    const served = (leaf: IssuedCertificate) => ({ cert: leaf.cert.pem, key: leaf.key.pem });
    otlp = await startOtlpReceiver({
      tls: served(trusted.issue('otlp', 'DNS:localhost,IP:127.0.0.1')),
    });
    // Signed by the trusted CA, but for another host name than the one the exporter dials.
    wrongName = await startOtlpReceiver({
      tls: served(trusted.issue('misnamed', 'DNS:collector.example')),
    });
  });

  afterAll(async () => {
    await otlp?.close();
    await wrongName?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const run = (endpoint: string, ca: string) =>
    spawnApp({
      flag: '--import',
      app: 'log-lines.mjs',
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
        OTEL_EXPORTER_OTLP_CERTIFICATE: ca,
        OTEL_SERVICE_NAME: 'tls-app',
        MESKIT_METRICS_PORT: 'off',
      },
    });

  it('exports to the endpoint its CA signed', async () => {
    expect(otlp.url).toMatch(/^https:/);
    const app = run(otlp.url, trustedCa);
    await app.exited;
    const spans = await otlp.waitForSpans((all) => all.some((s) => s.serviceName === 'tls-app'));
    expect(spans.length).toBeGreaterThan(0);
    expect(app.warningCount('MESKIT_OTEL_EXPORT_FAILED')).toBe(0);
  });

  it('refuses an endpoint signed by another CA, and says why', async () => {
    const before = otlp.spanCount;
    const app = run(otlp.url, otherCa);
    await app.exited;
    expect(otlp.spanCount).toBe(before);
    expect(app.warningCount('MESKIT_OTEL_EXPORT_FAILED')).toBe(1);
    expect(app.stderr()).toMatch(
      /self[- ]signed certificate in certificate chain|unable to verify/i,
    );
  });

  it('refuses an endpoint whose certificate names another host', async () => {
    const app = run(wrongName.url, trustedCa);
    await app.exited;
    expect(wrongName.spanCount).toBe(0);
    expect(app.warningCount('MESKIT_OTEL_EXPORT_FAILED')).toBe(1);
    expect(app.stderr()).toMatch(/altnames|does not match|not in the cert/i);
  });
});
