// TLS with verification on the real servers' TLS listeners, through the kernel's reading of
// each ecosystem's URL parameters: the run's CA connects and the server confirms the session is
// encrypted; a CA of the test's own and a certificate for another host name are refused with
// a TlsError naming the server and the reason, instead of a hang or a timeout. A host name
// mismatch on PostgreSQL and Redis needs a server whose certificate names another host: a
// private one each, with certificates made here.
import { once } from 'node:events';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TLSSocket } from 'node:tls';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import pg from 'pg';
import {
  attachServices,
  createTlsFiles,
  redisPing,
  startPostgres,
  startRedis,
  type PostgresPair,
  type RedisServer,
  type ServiceUrls,
  type TlsFiles,
} from '@meskit/services';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { amqpTls, postgresTls, redisTls, tlsFailure, type TlsError } from '../dist/index.js';

type TlsUrls = Required<
  Pick<ServiceUrls, 'DATABASE_TLS_URL' | 'REDIS_TLS_URL' | 'AMQP_TLS_URL' | 'MESKIT_TEST_CA_FILE'>
>;

function tlsUrls(): TlsUrls & ServiceUrls {
  const urls = inject('services');
  for (const name of ['DATABASE_TLS_URL', 'REDIS_TLS_URL', 'AMQP_TLS_URL'] as const)
    if (!urls[name])
      throw new Error(
        `the services run has no ${name}: it was started without TLS (or before TLS existed); start a new run`,
      );
  return urls as TlsUrls & ServiceUrls;
}

/** `url` with its CA parameter pointing at another file. */
function withParam(url: string, name: string, value: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set(name, value);
  return parsed.toString();
}

let dir: string;
/** A CA the servers do not know. */
let strangerCa: TlsFiles;
/** A CA and a server certificate for wrong.example only (not 127.0.0.1 nor localhost). */
let otherHost: TlsFiles;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'meskit-kernel-tls-'));
  chmodSync(dir, 0o755); // the private PostgreSQL runs as postgres
  strangerCa = createTlsFiles({ dir: join(dir, 'stranger'), name: 'stranger' });
  otherHost = createTlsFiles({
    dir: join(dir, 'other-host'),
    name: 'other-host',
    subjectAltName: 'DNS:wrong.example',
  });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Connects a pg client; resolves with the server's view of its TLS session, or the error. */
async function pgSession(url: string): Promise<{ ssl: boolean; version: string } | Error> {
  // A long connect timeout: a hang would fail as a timeout, not as the TLS error expected.
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 30_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const { rows } = await client.query<{ ssl: boolean; version: string }>(
      'SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()',
    );
    return rows[0]!;
  } catch (error) {
    return error as Error;
  } finally {
    await client.end().catch(() => undefined);
  }
}

function expectTlsError(outcome: unknown, url: string, reason: RegExp): TlsError {
  expect(outcome).toBeInstanceOf(Error);
  const failure = tlsFailure(outcome, url);
  expect(failure, `not a TLS failure: ${String(outcome)}`).toBeDefined();
  expect(failure!.code).toBe('TLS_VERIFY_FAILED');
  expect(failure!.reason).toMatch(reason);
  expect(failure!.message).toContain(failure!.endpoint!);
  return failure!;
}

describe('PostgreSQL (node-postgres reads the URL; postgresTls says what it will do)', () => {
  it('sslmode=verify-full with the run’s CA: connected, and pg_stat_ssl says TLS', async () => {
    const url = tlsUrls().DATABASE_TLS_URL;
    expect(postgresTls(url)).toMatchObject({ enabled: true, verify: 'full', trust: 'file' });
    const session = await pgSession(url);
    expect(session).toMatchObject({ ssl: true, version: expect.stringMatching(/^TLSv1\.[23]$/) });
  });

  it('another CA: refused, UNABLE_TO_VERIFY_LEAF_SIGNATURE, for verify-full and pg 8’s aliases', async () => {
    for (const mode of ['verify-full', 'verify-ca', 'require']) {
      const url = withParam(
        withParam(tlsUrls().DATABASE_TLS_URL, 'sslrootcert', strangerCa.caFile),
        'sslmode',
        mode,
      );
      expect(postgresTls(url).verify).toBe('full');
      expectTlsError(await pgSession(url), url, /^UNABLE_TO_VERIFY_LEAF_SIGNATURE$/);
    }
  });

  it('no verification where postgresTls says none: libpq-style require without a CA, no-verify', async () => {
    const base = tlsUrls().DATABASE_URL;
    for (const query of ['uselibpqcompat=true&sslmode=require', 'sslmode=no-verify']) {
      const url = `${base}?${query}`;
      expect(postgresTls(url).verify).toBe('none');
      expect(await pgSession(url)).toMatchObject({ ssl: true });
    }
  });

  describe('a server whose certificate is for wrong.example', () => {
    let pair: PostgresPair | undefined;
    beforeAll(async () => {
      pair = await startPostgres({ dir: join(dir, 'pg'), replica: false, tls: otherHost });
    });
    afterAll(async () => {
      await pair?.stop();
    });

    it('verify-full at 127.0.0.1: refused, ERR_TLS_CERT_ALTNAME_INVALID naming the host', async () => {
      const url = pair!.primary.tlsUrl!;
      const failure = expectTlsError(await pgSession(url), url, /^ERR_TLS_CERT_ALTNAME_INVALID$/);
      expect(failure.message).toMatch(/127\.0\.0\.1.*not for this host name/);
    });

    it('libpq-style verify-ca checks the chain only: connected', async () => {
      const url = `${pair!.primary.url}?uselibpqcompat=true&sslmode=verify-ca&sslrootcert=${otherHost.caFile}`;
      expect(postgresTls(url).verify).toBe('chain');
      expect(await pgSession(url)).toMatchObject({ ssl: true });
      // The chain is still verified in that mode: another CA is refused.
      const stranger = withParam(url, 'sslrootcert', strangerCa.caFile);
      expectTlsError(await pgSession(stranger), stranger, /^UNABLE_TO_VERIFY_LEAF_SIGNATURE$/);
    });
  });
});

/** An ioredis client on `url` through redisTls, and the first error it emits. */
function redisOn(url: string): { client: Redis; firstError: Promise<Error> } {
  const tls = redisTls(url);
  const client = new Redis(tls.url, {
    ...(tls.options ? { tls: tls.options } : {}),
    maxRetriesPerRequest: 0,
    connectionName: 'meskit-kernel-tls-test',
  });
  const firstError = once(client, 'error').then(([error]) => error as Error);
  client.on('error', () => undefined);
  return { client, firstError };
}

describe('Redis (rediss:// with ssl_ca_certs)', () => {
  it('the run’s CA: PING answers, on the server’s TLS port, over a TLS socket', async () => {
    const url = tlsUrls().REDIS_TLS_URL;
    const { client } = redisOn(url);
    try {
      expect(await client.ping()).toBe('PONG');
      // The server says which of its listeners the connection came in on.
      const info = String(await client.call('CLIENT', 'INFO'));
      expect(info).toContain(`laddr=127.0.0.1:${new URL(url).port}`);
      expect((client as unknown as { stream: unknown }).stream).toBeInstanceOf(TLSSocket);
    } finally {
      client.disconnect();
    }
  });

  it('another CA: the client reports SELF_SIGNED_CERT_IN_CHAIN (it keeps retrying)', async () => {
    const url = withParam(tlsUrls().REDIS_TLS_URL, 'ssl_ca_certs', strangerCa.caFile);
    const { client, firstError } = redisOn(url);
    try {
      const failure = expectTlsError(await firstError, url, /^SELF_SIGNED_CERT_IN_CHAIN$/);
      expect(failure.message).toMatch(/ssl_ca_certs=<CA file>/);
    } finally {
      client.disconnect();
    }
  });

  it('ssl_cert_reqs=none accepts any certificate (encrypted, not verified)', async () => {
    const url = withParam(
      withParam(tlsUrls().REDIS_TLS_URL, 'ssl_ca_certs', strangerCa.caFile),
      'ssl_cert_reqs',
      'none',
    );
    const { client } = redisOn(url);
    try {
      expect(await client.ping()).toBe('PONG');
    } finally {
      client.disconnect();
    }
  });

  it('the TLS port does not answer plain text (so the PONG above came over TLS)', async () => {
    expect(await redisPing(Number(new URL(tlsUrls().REDIS_TLS_URL).port))).toBe(false);
  });

  describe('a server whose certificate is for wrong.example', () => {
    let server: RedisServer | undefined;
    beforeAll(async () => {
      server = await startRedis({ dir: join(dir, 'redis'), tls: otherHost });
    });
    afterAll(async () => {
      await server?.stop();
    });

    it('at 127.0.0.1: ERR_TLS_CERT_ALTNAME_INVALID; ssl_check_hostname=false connects', async () => {
      const url = server!.tlsUrl!;
      const wrong = redisOn(url);
      try {
        expectTlsError(await wrong.firstError, url, /^ERR_TLS_CERT_ALTNAME_INVALID$/);
      } finally {
        wrong.client.disconnect();
      }
      const chainOnly = redisOn(`${url}&ssl_check_hostname=false`);
      try {
        expect(await chainOnly.client.ping()).toBe('PONG');
      } finally {
        chainOnly.client.disconnect();
      }
    });
  });
});

/** amqp.connect through amqpTls; the connection or the error. */
async function amqpConnect(url: string): Promise<amqp.ChannelModel | Error> {
  const tls = amqpTls(url);
  try {
    // A long timeout: a hang would fail as a timeout, not as the TLS error expected.
    return await amqp.connect(tls.url, {
      ...tls.options,
      timeout: 30_000,
      clientProperties: { connection_name: 'meskit-kernel-tls-test' },
    });
  } catch (error) {
    return error as Error;
  }
}

describe('RabbitMQ (amqps:// with cacertfile, verify, server_name_indication)', () => {
  it('the run’s CA: the connection opens on the AMQPS listener and the broker lists it as TLS', async () => {
    const connection = await amqpConnect(tlsUrls().AMQP_TLS_URL);
    if (connection instanceof Error) throw connection;
    try {
      const stream = (connection.connection as unknown as { stream: TLSSocket }).stream;
      expect(stream).toBeInstanceOf(TLSSocket);
      const broker = attachServices(tlsUrls().MESKIT_SERVICES_DIR).rabbitmq!;
      const listed = JSON.parse(
        await broker.ctl(['list_connections', 'peer_port', 'ssl', '--formatter', 'json']),
      ) as { peer_port: number; ssl: boolean }[];
      expect(listed.find((c) => c.peer_port === stream.localPort)).toEqual({
        peer_port: stream.localPort,
        ssl: true,
      });
    } finally {
      await connection.close();
    }
  });

  it('another CA: SELF_SIGNED_CERT_IN_CHAIN; verify=verify_none then connects', async () => {
    const url = withParam(tlsUrls().AMQP_TLS_URL, 'cacertfile', strangerCa.caFile);
    const failure = expectTlsError(await amqpConnect(url), url, /^SELF_SIGNED_CERT_IN_CHAIN$/);
    expect(failure.message).toMatch(/cacertfile=<CA file>/);
    const unverified = await amqpConnect(withParam(url, 'verify', 'verify_none'));
    if (unverified instanceof Error) throw unverified;
    await unverified.close();
  });

  it('server_name_indication=wrong.example: ERR_TLS_CERT_ALTNAME_INVALID', async () => {
    const url = withParam(tlsUrls().AMQP_TLS_URL, 'server_name_indication', 'wrong.example');
    const failure = expectTlsError(await amqpConnect(url), url, /^ERR_TLS_CERT_ALTNAME_INVALID$/);
    expect(failure.message).toContain('wrong.example');
  });
});
