// Traces to an https OTLP endpoint signed by a private CA (a managed collector behind a
// company CA): OTEL_EXPORTER_OTLP_CERTIFICATE names the CA, and the export thread verifies the
// endpoint against it. With another CA, or a name the certificate does not carry, nothing is
// sent: the failure is warned and counted, and the application goes on.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnApp } from './helpers.js';
import { startOtlpReceiver, type OtlpReceiver } from './peers/index.js';

/** A CA and, signed by it, a certificate for `names` (subjectAltName entries); PEM files. */
function makeCa(
  dir: string,
  name: string,
  names: string,
): { ca: string; cert: string; key: string } {
  const file = (suffix: string) => join(dir, `${name}-${suffix}`);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    `/CN=${name} test CA`,
    '-keyout',
    file('ca.key'),
    '-out',
    file('ca.pem'),
  );
  openssl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=otlp',
    '-keyout',
    file('server.key'),
    '-out',
    file('server.csr'),
  );
  writeFileSync(file('ext.cnf'), `subjectAltName=${names}\n`);
  openssl(
    'x509',
    '-req',
    '-in',
    file('server.csr'),
    '-CA',
    file('ca.pem'),
    '-CAkey',
    file('ca.key'),
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    file('ext.cnf'),
    '-out',
    file('server.pem'),
  );
  return { ca: file('ca.pem'), cert: file('server.pem'), key: file('server.key') };
}

describe('OTLP over https with a private CA', () => {
  let dir: string;
  let trusted: ReturnType<typeof makeCa>;
  let other: ReturnType<typeof makeCa>;
  let otlp: OtlpReceiver;
  let wrongName: OtlpReceiver;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'otel-bootstrap-tls-'));
    trusted = makeCa(dir, 'trusted', 'DNS:localhost,IP:127.0.0.1');
    other = makeCa(dir, 'other', 'DNS:localhost,IP:127.0.0.1');
    const signedBy = (ca: ReturnType<typeof makeCa>) => ({
      cert: readFileSync(ca.cert, 'utf8'),
      key: readFileSync(ca.key, 'utf8'),
    });
    otlp = await startOtlpReceiver({ tls: signedBy(trusted) });
    // Signed by the trusted CA, but for another host name than the one the exporter dials.
    const misnamed = makeCa(dir, 'misnamed', 'DNS:collector.example');
    const misnamedCert = readFileSync(misnamed.cert, 'utf8');
    wrongName = await startOtlpReceiver({
      tls: { cert: misnamedCert, key: readFileSync(misnamed.key, 'utf8') },
    });
    trusted = { ...trusted, ca: concat(dir, 'bundle.pem', [trusted.ca, misnamed.ca]) };
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
    const app = run(otlp.url, trusted.ca);
    await app.exited;
    const spans = await otlp.waitForSpans((all) => all.some((s) => s.serviceName === 'tls-app'));
    expect(spans.length).toBeGreaterThan(0);
    expect(app.warningCount('MESKIT_OTEL_EXPORT_FAILED')).toBe(0);
  });

  it('refuses an endpoint signed by another CA, and says why', async () => {
    const before = otlp.spanCount;
    const app = run(otlp.url, other.ca);
    await app.exited;
    expect(otlp.spanCount).toBe(before);
    expect(app.warningCount('MESKIT_OTEL_EXPORT_FAILED')).toBe(1);
    expect(app.stderr()).toMatch(
      /self[- ]signed certificate in certificate chain|unable to verify/i,
    );
  });

  it('refuses an endpoint whose certificate names another host', async () => {
    const app = run(wrongName.url, trusted.ca);
    await app.exited;
    expect(wrongName.spanCount).toBe(0);
    expect(app.warningCount('MESKIT_OTEL_EXPORT_FAILED')).toBe(1);
    expect(app.stderr()).toMatch(/altnames|does not match|not in the cert/i);
  });
});

function concat(dir: string, name: string, files: readonly string[]): string {
  const path = join(dir, name);
  writeFileSync(path, files.map((file) => readFileSync(file, 'utf8')).join(''));
  return path;
}
