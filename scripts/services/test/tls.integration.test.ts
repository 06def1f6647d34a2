// The run's TLS listeners: exported as URLs that another process finds again, served with a
// certificate the run's CA signed for localhost and 127.0.0.1, keys readable by their server
// only; and a run started with tls: false has none of it. (Clients over these listeners, a
// wrong CA and a wrong host name: packages/kernel/test/tls.integration.test.ts.)
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { attachServices, startServices } from '@meskit/services';

const urls = () => inject('services');

/** The certificate a TLS listener on 127.0.0.1:`port` presents (the chain checked by `ca`). */
function servedCertificate(port: number, ca: string): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', ca }, () => {
      const raw = socket.getPeerCertificate().raw;
      socket.destroy();
      resolve(new X509Certificate(raw));
    });
    socket.once('error', reject);
  });
}

describe('the run’s TLS exports', () => {
  it('names every TLS URL and the CA, and a process attaching to the run finds the same', () => {
    const injected = urls();
    const caFile = injected.MESKIT_TEST_CA_FILE;
    expect(caFile).toBeDefined();
    expect(injected.DATABASE_TLS_URL).toBe(
      `${injected.DATABASE_URL}?sslmode=verify-full&sslrootcert=${caFile}`,
    );
    expect(injected.DATABASE_REPLICA_TLS_URL).toBe(
      `${injected.DATABASE_REPLICA_URL}?sslmode=verify-full&sslrootcert=${caFile}`,
    );
    expect(injected.REDIS_TLS_URL).toMatch(
      new RegExp(`^rediss://127\\.0\\.0\\.1:\\d+\\?ssl_ca_certs=${caFile}$`),
    );
    expect(injected.AMQP_TLS_URL).toMatch(
      new RegExp(`^amqps://guest:guest@127\\.0\\.0\\.1:\\d+\\?cacertfile=${caFile}$`),
    );
    expect(attachServices(injected.MESKIT_SERVICES_DIR).urls).toEqual(injected);
  });

  it('Redis and RabbitMQ serve a certificate the CA signed, for localhost and 127.0.0.1', async () => {
    const ca = readFileSync(urls().MESKIT_TEST_CA_FILE!, 'utf8');
    const caCert = new X509Certificate(ca);
    for (const url of [urls().REDIS_TLS_URL!, urls().AMQP_TLS_URL!]) {
      const served = await servedCertificate(Number(new URL(url).port), ca);
      expect(served.verify(caCert.publicKey)).toBe(true);
      expect(served.checkHost('localhost')).toBe('localhost');
      expect(served.checkIP('127.0.0.1')).toBe('127.0.0.1');
      expect(served.checkHost('wrong.example')).toBeUndefined();
    }
  });

  it('the replica takes TLS too (its settings came with pg_basebackup)', async () => {
    const client = new pg.Client({ connectionString: urls().DATABASE_REPLICA_TLS_URL });
    await client.connect();
    try {
      const { rows } = await client.query<{ ssl: boolean; recovery: boolean }>(
        'SELECT ssl, pg_is_in_recovery() AS recovery FROM pg_stat_ssl WHERE pid = pg_backend_pid()',
      );
      expect(rows[0]).toEqual({ ssl: true, recovery: true });
    } finally {
      await client.end();
    }
  });

  it('the servers’ keys are 0600, owned by the user each server runs as', () => {
    const dir = urls().MESKIT_SERVICES_DIR;
    for (const [file, user] of [
      [join(dir, 'postgres', 'server.key'), 'postgres'],
      [join(dir, 'rabbitmq', 'tls-server.key'), 'rabbitmq'],
    ] as const) {
      const stat = statSync(file);
      expect(stat.mode & 0o777).toBe(0o600);
      // As root the servers run as their own users; otherwise as ours.
      const uid = process.getuid?.() === 0 ? execFileSync('id', ['-u', user]) : process.getuid?.();
      expect(stat.uid).toBe(Number(String(uid).trim()));
    }
  });
});

describe('startServices({ tls })', () => {
  const base = mkdtempSync(join(tmpdir(), 'meskit-services-tls-'));
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it('is on by default beside the plain port, and off with tls: false', async () => {
    const withTls = await startServices({ only: ['redis'], baseDir: base });
    try {
      expect(withTls.urls.REDIS_URL).toMatch(/^redis:\/\//);
      expect(withTls.urls.REDIS_TLS_URL).toMatch(/^rediss:\/\//);
      expect(withTls.urls.MESKIT_TEST_CA_FILE).toBe(withTls.tls?.caFile);
    } finally {
      await withTls.close();
    }
    const plain = await startServices({ only: ['redis'], baseDir: base, tls: false });
    try {
      expect(plain.urls.REDIS_URL).toMatch(/^redis:\/\//);
      expect(plain.urls.REDIS_TLS_URL).toBeUndefined();
      expect(plain.urls.MESKIT_TEST_CA_FILE).toBeUndefined();
      expect(attachServices(plain.dir).urls).toEqual(plain.urls);
    } finally {
      await plain.close();
    }
  });
});
