// `meskit db status` against the run's primary and streaming replica, and against a primary
// that is not there.
import { serviceUrls } from '@meskit/testkit';
import { describe, expect, it } from 'vitest';
import { closedPort, runDoctorCheck, runMeskit, soleCheck } from './helpers.js';

describe('meskit db status', () => {
  it('shows the primary and the replica in service, with its lag', async () => {
    const { databaseUrl, replicaUrl } = serviceUrls();
    const json = await runMeskit(['db', 'status', '--json'], {
      DATABASE_URL: databaseUrl,
      DATABASE_REPLICA_URL: replicaUrl,
    });
    expect(json.stderr).toBe('');
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout) as {
      servers: { role: string; up: boolean; inService: boolean; lsn: string; lagBytes: number }[];
      problems: string[];
    };
    expect(report.problems).toEqual([]);
    expect(report.servers.map((s) => [s.role, s.up, s.inService])).toEqual([
      ['primary', true, true],
      ['replica', true, true],
    ]);
    expect(report.servers[1]?.lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    const text = await runMeskit(['db', 'status', '--replica-url', replicaUrl], {
      DATABASE_URL: databaseUrl,
    });
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(
      /^server\s+role\s+up\s+in service\s+WAL position\s+lag bytes\s+lag s/,
    );
    expect(text.stdout).toMatch(/replica\s+yes\s+yes/);
  });

  it('exits 1 naming a primary that does not answer, 2 without one', async () => {
    const down = await runMeskit(['db', 'status', '--timeout-ms', '1000'], {
      DATABASE_URL: `postgres://u:secret@127.0.0.1:${await closedPort()}/db`,
    });
    expect(down.code).toBe(1);
    expect(down.stdout).toMatch(/the primary 127\.0\.0\.1:\d+ does not answer/);
    expect(down.stdout + down.stderr).not.toContain('secret');
    const none = await runMeskit(['db', 'status'], {});
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('DATABASE_URL');
  });

  it('the db-router doctor check passes on the streaming replica and warns on a server that is not one', async () => {
    const { databaseUrl, replicaUrl } = serviceUrls();
    const ok = soleCheck(
      await runDoctorCheck('db-router', [], {
        DATABASE_URL: databaseUrl,
        DATABASE_REPLICA_URL: replicaUrl,
      }),
      'db-router',
    );
    expect(ok.status).toBe('pass');
    expect(ok.message).toMatch(
      /^replica 127\.0\.0\.1:\d+ in service, \d+ bytes and [\d.]+ s behind the primary$/,
    );
    // The primary given as its own replica: not in recovery, so never in the read rotation.
    const notReplica = soleCheck(
      await runDoctorCheck('db-router', [], {
        DATABASE_URL: databaseUrl,
        DATABASE_REPLICA_URL: databaseUrl,
      }),
      'db-router',
    );
    expect(notReplica.status).toBe('warn');
    expect(notReplica.message).toContain('db-router sends every read to the primary');
  });
});
