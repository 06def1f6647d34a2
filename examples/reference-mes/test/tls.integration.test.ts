// The reference MES on managed-style servers: PostgreSQL with sslmode=verify-full and RabbitMQ
// on amqps://, both verified against the run's CA. It starts and serves over TLS sessions; with
// a CA of the test's own it refuses to start, saying which server refused and why.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTlsFiles } from '@meskit/services';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createReferenceMes } from '../src/index.js';
import {
  createTestDatabase,
  deleteTopology,
  serviceUrls,
  uniqueName,
  type TestDatabase,
} from './helpers.js';

let db: TestDatabase;
let dir: string;
let strangerCa: string;
const exchange = uniqueName('test.tls.events');
const queue = uniqueName('test.tls.inbox');

function tls(): { databaseQuery: string; amqpUrl: string } {
  const { DATABASE_TLS_URL, AMQP_TLS_URL } = inject('services');
  if (!DATABASE_TLS_URL || !AMQP_TLS_URL)
    throw new Error('the services run has no TLS URLs (started without TLS): start a new run');
  return { databaseQuery: new URL(DATABASE_TLS_URL).search, amqpUrl: AMQP_TLS_URL };
}

/** The test database's URL with the run's TLS parameters (verify-full, its CA). */
function databaseTlsUrl(caFile?: string): string {
  const url = new URL(db.url);
  url.search = tls().databaseQuery;
  if (caFile) url.searchParams.set('sslrootcert', caFile);
  return url.toString();
}

function amqpTlsUrl(caFile?: string): string {
  const url = new URL(tls().amqpUrl);
  if (caFile) url.searchParams.set('cacertfile', caFile);
  return url.toString();
}

beforeAll(async () => {
  db = await createTestDatabase();
  dir = await mkdtemp(join(tmpdir(), 'mes-tls-'));
  strangerCa = createTlsFiles({ dir: join(dir, 'ca'), name: 'stranger' }).caFile;
});
afterAll(async () => {
  await deleteTopology(serviceUrls().amqpUrl, exchange, queue).catch(() => undefined);
  await db?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('createReferenceMes over TLS', () => {
  it('starts on verify-full PostgreSQL and amqps:// RabbitMQ; its sessions are TLS', async () => {
    const mes = await createReferenceMes({
      databaseUrl: databaseTlsUrl(),
      amqpUrl: amqpTlsUrl(),
      exchange,
      queue,
      modelDir: join(dir, 'models'),
      logLevel: 'silent',
    });
    try {
      expect((await fetch(`${mes.url}/health`)).status).toBe(200);
      // Only the MES connects to this database over TLS (the test's own pool is plain).
      const { rows } = await db.query<{ tls: number }>(
        `SELECT count(*)::int AS tls FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
          WHERE a.datname = current_database() AND s.ssl`,
      );
      expect(rows[0]?.tls).toBeGreaterThan(0);
    } finally {
      await mes.close();
    }
  });

  it('a CA the database’s certificate is not signed by: DATABASE_UNREACHABLE, saying why', async () => {
    await expect(
      createReferenceMes({
        databaseUrl: databaseTlsUrl(strangerCa),
        modelDir: join(dir, 'models'),
        logLevel: 'silent',
      }),
    ).rejects.toMatchObject({
      code: 'DATABASE_UNREACHABLE',
      message: expect.stringMatching(
        /TLS verification of 127\.0\.0\.1:\d+ failed: .*\[UNABLE_TO_VERIFY_LEAF_SIGNATURE\]; trust the CA .*sslrootcert=/,
      ),
    });
  });

  it('a CA the broker’s certificate is not signed by: BROKER_UNREACHABLE, saying why', async () => {
    await expect(
      createReferenceMes({
        databaseUrl: databaseTlsUrl(),
        amqpUrl: amqpTlsUrl(strangerCa),
        exchange,
        queue,
        modelDir: join(dir, 'models'),
        logLevel: 'silent',
      }),
    ).rejects.toMatchObject({
      code: 'BROKER_UNREACHABLE',
      message: expect.stringMatching(
        /TLS verification of 127\.0\.0\.1:\d+ failed: .*\[SELF_SIGNED_CERT_IN_CHAIN\]; trust the CA .*cacertfile=/,
      ),
    });
  });
});
