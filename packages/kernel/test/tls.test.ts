// The TLS parameters of each server's URL: what is read, what the client is given, what the
// URL handed on keeps, and the errors for bad values and files. Certificates made with openssl
// for the test; no server needed (tls.integration.test.ts connects to real ones).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTlsFiles, type TlsFiles } from '@meskit/services';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  amqpTls,
  certificateExpiry,
  postgresTls,
  redisTls,
  TlsError,
  tlsFailure,
  tlsSettings,
} from '../dist/index.js';

let dir: string;
let files: TlsFiles;
let notPem: string;
const missing = '/nonexistent/meskit-ca.pem';

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'meskit-kernel-tls-'));
  files = createTlsFiles({ dir, name: 'unit', days: 30 });
  notPem = join(dir, 'not-a-certificate.pem');
  writeFileSync(notPem, 'hello\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The TlsError `fn` throws (fails the test when it throws nothing, or something else). */
function thrown(fn: () => unknown): TlsError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(TlsError);
    return error as TlsError;
  }
  throw new Error('expected a TlsError');
}

describe('redisTls', () => {
  it('leaves a plain redis:// URL alone', () => {
    const settings = redisTls('redis://:secret@127.0.0.1:6379/2');
    expect(settings).toMatchObject({ enabled: false, url: 'redis://:secret@127.0.0.1:6379/2' });
    expect(settings.options).toBeUndefined();
  });

  it('rediss:// verifies by default against Node’s CAs, SNI for a host name only', () => {
    const byName = redisTls('rediss://:key@name.redis.cache.windows.net:6380');
    expect(byName).toMatchObject({ enabled: true, verify: 'full', trust: 'system' });
    expect(byName.options).toEqual({
      rejectUnauthorized: true,
      servername: 'name.redis.cache.windows.net',
    });
    expect(redisTls('rediss://127.0.0.1:6380').options).toEqual({ rejectUnauthorized: true });
  });

  it('reads ssl_ca_certs and removes the ssl_* parameters from the URL, keeping the others', () => {
    const url = `rediss://:pw@127.0.0.1:6380/1?ssl_ca_certs=${files.caFile}&family=4`;
    const settings = redisTls(url);
    expect(settings.url).toBe('rediss://:pw@127.0.0.1:6380/1?family=4');
    expect(settings).toMatchObject({ trust: 'file', caFile: files.caFile, verify: 'full' });
    expect(settings.options?.ca).toContain('BEGIN CERTIFICATE');
  });

  it('ssl_cert_reqs=none turns verification off; Celery’s CERT_* spelling is accepted', () => {
    expect(redisTls('rediss://h:1?ssl_cert_reqs=none')).toMatchObject({
      verify: 'none',
      options: { rejectUnauthorized: false },
    });
    expect(redisTls('rediss://h:1?ssl_cert_reqs=CERT_REQUIRED').options?.rejectUnauthorized).toBe(
      true,
    );
    const error = thrown(() => redisTls('rediss://:pw@h:1?ssl_cert_reqs=maybe'));
    expect(error.code).toBe('TLS_BAD_PARAMETER');
    expect(error.message).toMatch(
      /ssl_cert_reqs=maybe .*required \(the default\), optional or none/,
    );
    expect(error.message).not.toContain('pw');
  });

  it('ssl_check_hostname=false verifies the chain only', () => {
    const settings = redisTls('rediss://h:1?ssl_check_hostname=false');
    expect(settings.verify).toBe('chain');
    expect(settings.options?.checkServerIdentity?.('h', {} as never)).toBeUndefined();
  });

  it('a client certificate: ssl_certfile (and ssl_keyfile) are read', () => {
    const settings = redisTls(
      `rediss://h:1?ssl_certfile=${files.certFile}&ssl_keyfile=${files.keyFile}`,
    );
    expect(settings.options?.cert).toContain('BEGIN CERTIFICATE');
    expect(settings.options?.key).toContain('PRIVATE KEY');
    expect(thrown(() => redisTls(`rediss://h:1?ssl_keyfile=${files.keyFile}`)).code).toBe(
      'TLS_BAD_PARAMETER',
    );
  });

  it('refuses TLS parameters on redis://, a repeated one, an unreadable or non-PEM CA file', () => {
    const plain = thrown(() => redisTls(`redis://h:1?ssl_ca_certs=${files.caFile}`));
    expect(plain.message).toMatch(/TLS parameters need a rediss:\/\/ URL/);
    expect(thrown(() => redisTls('rediss://h:1?ssl_cert_reqs=none&ssl_cert_reqs=none')).code).toBe(
      'TLS_BAD_PARAMETER',
    );
    const unreadable = thrown(() => redisTls(`rediss://:pw@h:1?ssl_ca_certs=${missing}`));
    expect(unreadable.code).toBe('TLS_FILE_UNREADABLE');
    expect(unreadable.message).toContain(`ssl_ca_certs=${missing}`);
    expect(unreadable.message).toContain('ENOENT');
    expect(unreadable.message).not.toContain(':pw@');
    expect(thrown(() => redisTls(`rediss://h:1?ssl_ca_certs=${notPem}`)).code).toBe(
      'TLS_BAD_CERTIFICATE',
    );
  });
});

describe('amqpTls', () => {
  it('reads RabbitMQ’s URI parameters and keeps amqplib’s own (heartbeat...)', () => {
    const url = `amqps://u:p@b-1.mq.eu-west-1.amazonaws.com:5671/vh?heartbeat=5&cacertfile=${files.caFile}&verify=verify_peer`;
    const settings = amqpTls(url);
    expect(settings.url).toBe('amqps://u:p@b-1.mq.eu-west-1.amazonaws.com:5671/vh?heartbeat=5');
    expect(settings).toMatchObject({ enabled: true, verify: 'full', trust: 'file' });
    expect(settings.options?.rejectUnauthorized).toBe(true);
    expect(settings.options?.ca).toContain('BEGIN CERTIFICATE');
  });

  it('verify=verify_none, server_name_indication and a client certificate', () => {
    expect(amqpTls('amqps://h?verify=verify_none').options?.rejectUnauthorized).toBe(false);
    expect(amqpTls('amqps://127.0.0.1?server_name_indication=broker.example').options).toEqual({
      rejectUnauthorized: true,
      servername: 'broker.example',
    });
    const client = amqpTls(`amqps://h?certfile=${files.certFile}&keyfile=${files.keyFile}`);
    expect(client.options?.key).toContain('PRIVATE KEY');
  });

  it('refuses bad values, TLS parameters on amqp://, certfile without keyfile', () => {
    expect(thrown(() => amqpTls('amqps://h?verify=yes')).message).toMatch(
      /verify=yes .*verify_peer \(the default\) or verify_none/,
    );
    expect(thrown(() => amqpTls('amqps://h?server_name_indication=disable')).code).toBe(
      'TLS_BAD_PARAMETER',
    );
    expect(thrown(() => amqpTls(`amqp://h?cacertfile=${files.caFile}`)).message).toMatch(
      /need an amqps:\/\/ URL/,
    );
    expect(thrown(() => amqpTls(`amqps://h?certfile=${files.certFile}`)).code).toBe(
      'TLS_BAD_PARAMETER',
    );
    expect(thrown(() => amqpTls(`amqps://h?cacertfile=${missing}`)).code).toBe(
      'TLS_FILE_UNREADABLE',
    );
  });
});

describe('postgresTls (what node-postgres 8 does with the URL)', () => {
  const saved = process.env['PGSSLMODE'];
  afterEach(() => {
    if (saved === undefined) delete process.env['PGSSLMODE'];
    else process.env['PGSSLMODE'] = saved;
  });
  const base = 'postgres://mes:pw@db.example:5432/mes';

  it('no TLS parameter and no PGSSLMODE: plain; the URL is never changed', () => {
    delete process.env['PGSSLMODE'];
    expect(postgresTls(base)).toMatchObject({ enabled: false, url: base });
    const url = `${base}?sslmode=verify-full&sslrootcert=${files.caFile}`;
    expect(postgresTls(url)).toMatchObject({
      enabled: true,
      verify: 'full',
      trust: 'file',
      url,
    });
  });

  it.each([
    ['sslmode=verify-full', 'full'],
    ['sslmode=verify-ca', 'full'],
    ['sslmode=require', 'full'],
    ['sslmode=prefer', 'full'],
    ['sslmode=no-verify', 'none'],
    ['ssl=true', 'full'],
    ['uselibpqcompat=true&sslmode=require', 'none'],
    ['uselibpqcompat=true&sslmode=prefer', 'none'],
    ['uselibpqcompat=true&sslmode=verify-full', 'full'],
  ])('%s verifies: %s', (query, verify) => {
    expect(postgresTls(`${base}?${query}`)).toMatchObject({ enabled: true, verify });
  });

  it('libpq-compatible verify-ca and require with a CA file verify the chain only', () => {
    for (const mode of ['verify-ca', 'require']) {
      const settings = postgresTls(
        `${base}?uselibpqcompat=true&sslmode=${mode}&sslrootcert=${files.caFile}`,
      );
      expect(settings.verify).toBe('chain');
      expect(settings.options?.checkServerIdentity).toBeTypeOf('function');
    }
  });

  it('sslmode=disable and ssl=0 are plain; PGSSLMODE counts only without TLS parameters', () => {
    expect(postgresTls(`${base}?sslmode=disable`).enabled).toBe(false);
    expect(postgresTls(`${base}?ssl=0`).enabled).toBe(false);
    process.env['PGSSLMODE'] = 'require';
    expect(postgresTls(base)).toMatchObject({ enabled: true, verify: 'full', trust: 'system' });
    expect(postgresTls(`${base}?sslmode=disable`).enabled).toBe(false);
  });

  it('refuses what pg would get wrong: allow, ssl=false, sslrootcert=system, unreadable files', () => {
    expect(thrown(() => postgresTls(`${base}?sslmode=allow`)).message).toMatch(
      /sslmode=allow .*disable or verify-full/,
    );
    // pg 8 reads ssl=false as "on" and then crashes in its TLS upgrade.
    expect(thrown(() => postgresTls(`${base}?ssl=false`)).code).toBe('TLS_BAD_PARAMETER');
    expect(thrown(() => postgresTls(`${base}?sslrootcert=system`)).message).toMatch(
      /leave sslrootcert out/,
    );
    expect(
      thrown(() => postgresTls(`${base}?uselibpqcompat=true&sslmode=verify-ca`)).message,
    ).toMatch(/needs sslrootcert/);
    const unreadable = thrown(() =>
      postgresTls(`${base}?sslmode=verify-full&sslrootcert=${missing}`),
    );
    expect(unreadable.code).toBe('TLS_FILE_UNREADABLE');
    expect(unreadable.message).not.toContain('pw');
  });
});

describe('tlsSettings', () => {
  it('picks the server by scheme, and refuses other schemes', () => {
    expect(tlsSettings('postgresql://h/db?sslmode=verify-full').server).toBe('postgres');
    expect(tlsSettings('rediss://h:6380').server).toBe('redis');
    expect(tlsSettings('amqps://h').server).toBe('amqp');
    expect(thrown(() => tlsSettings('mysql://h')).code).toBe('TLS_BAD_PARAMETER');
  });
});

describe('certificateExpiry', () => {
  it('reads notAfter of a certificate, and of the first to expire in a bundle', () => {
    const now = Date.now();
    const one = certificateExpiry(readPem(files.certFile), now);
    expect(one.certificates).toBe(1);
    expect(one.daysLeft).toBeGreaterThanOrEqual(29);
    expect(one.daysLeft).toBeLessThanOrEqual(30);
    expect(one.subject).toContain('CN=unit server');
    const later = createTlsFiles({ dir, name: 'unit-later', days: 90 });
    const bundle = `${readPem(later.caFile)}\n${readPem(files.caFile)}`;
    const first = certificateExpiry(bundle, now);
    expect(first.certificates).toBe(2);
    expect(first.subject).toContain('CN=unit CA');
    expect(certificateExpiry(bundle, now + 40 * 86_400_000).daysLeft).toBeLessThan(0);
    expect(thrown(() => certificateExpiry('no certificate here')).code).toBe('TLS_BAD_CERTIFICATE');
  });
});

describe('tlsFailure', () => {
  const verifyError = (code: string, message: string) =>
    Object.assign(new Error(message), { code });

  it('names the server, the reason and the parameter that fixes it', () => {
    const failure = tlsFailure(
      verifyError('UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unable to verify the first certificate'),
      'postgres://u:secret@db.example:5432/mes',
    );
    expect(failure?.code).toBe('TLS_VERIFY_FAILED');
    expect(failure?.endpoint).toBe('db.example:5432');
    expect(failure?.reason).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    expect(failure?.message).toMatch(/db\.example:5432 .*not signed by a CA .*sslrootcert=/);
    expect(failure?.message).not.toContain('secret');
    const wrapped = new Error('Connection failed', {
      cause: verifyError(
        'SELF_SIGNED_CERT_IN_CHAIN',
        'self-signed certificate in certificate chain',
      ),
    });
    expect(tlsFailure(wrapped, 'rediss://h:6380')?.message).toMatch(/ssl_ca_certs=/);
  });

  it('a handshake failure says so; anything else is not a TLS failure', () => {
    const handshake = tlsFailure(
      verifyError('ERR_SSL_WRONG_VERSION_NUMBER', 'wrong version number'),
      'amqps://h:5672',
    );
    expect(handshake?.code).toBe('TLS_HANDSHAKE_FAILED');
    expect(handshake?.message).toMatch(/TLS port/);
    expect(tlsFailure(verifyError('ECONNREFUSED', 'refused'), 'amqps://h')).toBeUndefined();
    expect(tlsFailure('not an error', 'amqps://h')).toBeUndefined();
  });
});

function readPem(file: string): string {
  return readFileSync(file, 'utf8');
}
