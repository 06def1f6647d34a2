// The router on the run's primary and replica over TLS (sslmode=verify-full&sslrootcert=<the
// run's CA>, read by node-postgres from the URLs the router keeps whole): its sessions on the
// replica and on the primary are TLS sessions, and reads go to the replica. With a CA of the test's own for the
// replica, the replica stays out of the read rotation and its status says why.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTlsFiles, type TlsFiles } from '@meskit/services';
import { waitFor } from '@meskit/testkit';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createRouter, type RouteDecision } from '../dist/index.js';

function tlsUrls(): { primary: string; replica: string } {
  const { DATABASE_TLS_URL, DATABASE_REPLICA_TLS_URL } = inject('services');
  if (!DATABASE_TLS_URL || !DATABASE_REPLICA_TLS_URL)
    throw new Error(
      'the services run has no DATABASE_TLS_URL (started without TLS): start a new run',
    );
  return { primary: DATABASE_TLS_URL, replica: DATABASE_REPLICA_TLS_URL };
}

const SESSION = `SELECT s.ssl, pg_is_in_recovery() AS recovery
  FROM pg_stat_ssl s WHERE s.pid = pg_backend_pid()`;

let dir: string;
let stranger: TlsFiles;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'meskit-db-router-tls-'));
  stranger = createTlsFiles({ dir, name: 'stranger' });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('createRouter over verify-full URLs', () => {
  it('reads go to the replica and writes to the primary, each in a TLS session', async () => {
    const decisions: RouteDecision[] = [];
    const router = createRouter({
      primary: tlsUrls().primary,
      replicas: [tlsUrls().replica],
      // Polls time out after 5 intervals: 500 ms for a TLS handshake on a loaded machine.
      pollIntervalMs: 100,
      registry: new Registry(),
      onDecision: (d) => decisions.push(d),
    });
    try {
      // pg_stat_ssl is a volatile function underneath: a plain read of it would go to the
      // primary, so each session is asked through a client the router lends.
      await waitFor('the replica in service', () => router.stats().servers[1]?.inService === true);
      const onReplica = await router.connect({ readOnly: true });
      try {
        const read = await onReplica.query<{ ssl: boolean; recovery: boolean }>(SESSION);
        expect(read.rows[0]).toEqual({ ssl: true, recovery: true });
      } finally {
        onReplica.release();
      }
      const onPrimary = await router.connect();
      try {
        const write = await onPrimary.query<{ ssl: boolean; recovery: boolean }>(SESSION);
        expect(write.rows[0]).toEqual({ ssl: true, recovery: false });
      } finally {
        onPrimary.release();
      }
      // A plain read goes to the replica as well.
      await waitFor('a read served by the replica', async () => {
        await router.query('SELECT 1');
        return decisions.at(-1)?.target === 'replica';
      });
    } finally {
      await router.end();
    }
  });

  it('a replica whose certificate the CA file does not vouch for stays out, saying why', async () => {
    const replica = new URL(tlsUrls().replica);
    replica.searchParams.set('sslrootcert', stranger.caFile);
    const router = createRouter({
      primary: tlsUrls().primary,
      replicas: [replica.toString()],
      // Polls time out after 5 intervals: 500 ms for a TLS handshake on a loaded machine.
      pollIntervalMs: 100,
      registry: new Registry(),
    });
    try {
      await waitFor(
        'the replica’s poll failed',
        () => router.stats().servers[1]?.lastError !== undefined,
      );
      const status = router.stats().servers[1]!;
      expect(status.inService).toBe(false);
      expect(status.lastError).toMatch(
        new RegExp(
          `TLS verification of 127\\.0\\.0\\.1:${replica.port} failed: .*\\[UNABLE_TO_VERIFY_LEAF_SIGNATURE\\]; trust the CA .*sslrootcert=`,
        ),
      );
      // Reads go on, on the primary.
      expect((await router.query<{ recovery: boolean }>(SESSION)).rows[0]?.recovery).toBe(false);
    } finally {
      await router.end();
    }
  });

  it('an unreadable sslrootcert is refused at construction, naming the file', () => {
    const primary = new URL(tlsUrls().primary);
    primary.searchParams.set('sslrootcert', join(dir, 'missing.pem'));
    expect(() => createRouter({ primary: primary.toString(), registry: new Registry() })).toThrow(
      expect.objectContaining({ code: 'TLS_FILE_UNREADABLE' }),
    );
  });
});
