// Faults on a PRIVATE PostgreSQL primary + replica (the shared servers are never touched):
// a replica that lags, one that is down, one that was promoted. Steps run in this order
// on the same pair, each leaving it in the state the next one needs.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPostgres, type PostgresPair } from '@meskit/services';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CheckResult, DoctorReport } from '../src/index.js';
import { LINGERING, runDoctorCheck, runMeskit, STACK_TRACE } from './helpers.js';

let dir: string;
let pair: PostgresPair;
let replicaUrl: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'meskit-cli-pg-'));
  // PostgreSQL runs as the postgres user and must traverse this folder.
  chmodSync(dir, 0o755);
  pair = await startPostgres({ dir });
  if (!pair.replica) throw new Error('startPostgres did not start a replica');
  replicaUrl = pair.replica.url;
});

afterAll(async () => {
  await pair?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function doctorReplica(extra: string[] = []) {
  const result = await runDoctorCheck('postgres', [
    '--database-url',
    pair.primary.url,
    '--replica-url',
    replicaUrl,
    ...extra,
  ]);
  expect(result.stdout).not.toMatch(STACK_TRACE);
  expect(result.stderr).not.toMatch(STACK_TRACE);
  expect(result.stderr).not.toMatch(LINGERING);
  const report = JSON.parse(result.stdout) as DoctorReport;
  const find = (id: string): CheckResult => {
    const found = report.checks.find((check) => check.id === id);
    if (!found) throw new Error(`no ${id} in ${result.stdout}`);
    return found;
  };
  return { result, report, primary: find('postgres.primary'), replica: find('postgres.replica') };
}

describe('postgres.replica on a private pair', () => {
  it('warns when WAL is outstanding and the last replayed transaction is older than --max-lag-seconds', async () => {
    // A replayed transaction first, so the replica has a last-replay timestamp to age.
    await pair.primary.query('CREATE TABLE lag_probe (id int)');
    await pair.waitForReplay();
    // Then hold the next commit back on the replica: bytes outstanding for a minute.
    await pair.setReplicaApplyDelay(60_000);
    await pair.primary.query('INSERT INTO lag_probe VALUES (1)');
    // With synchronous_commit off the commit record can sit in WAL buffers, behind
    // pg_current_wal_lsn(), which the doctor compares: wait until the replica has received
    // it, so the outstanding bytes are there to see (an event, not a sleep).
    const { rows } = await pair.primary.query<{ lsn: string }>(
      'SELECT pg_current_wal_insert_lsn()::text AS lsn',
    );
    for (let attempt = 0; ; attempt++) {
      const received = await pair.replica!.query<{ ok: boolean }>(
        'SELECT pg_last_wal_receive_lsn() >= $1::pg_lsn AS ok',
        [rows[0]?.lsn],
      );
      if (received.rows[0]?.ok) break;
      if (attempt > 300) throw new Error('the replica never received the held-back commit');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }

    const { result, report, primary, replica } = await doctorReplica(['--max-lag-seconds', '0']);
    expect(result.code).toBe(0); // a warning is not a failure
    expect(report.ok).toBe(true);
    expect(primary.status).toBe('pass');
    expect(replica.status).toBe('warn');
    expect(replica.message).toMatch(/^replication lag \d+\.\d s is above --max-lag-seconds 0 \(/);
    expect(replica.message).toMatch(/\d+(\.\d)? (B|KiB|MiB) behind the primary/);
    expect(replica.details).toMatchObject({
      walReceiverStatus: 'streaming',
      lagBytes: expect.any(Number),
      lagSeconds: expect.any(Number),
    });
    expect(replica.details?.['lagBytes']).toBeGreaterThan(0);
  });

  it('fails with a clear message when the replica is down, while the primary still passes', async () => {
    await pair.replica?.stop();
    const { result, report, primary, replica } = await doctorReplica();
    expect(result.code).toBe(1);
    expect(report.ok).toBe(false);
    expect(primary.status).toBe('pass');
    expect(replica).toMatchObject({
      status: 'fail',
      message: `cannot connect to the PostgreSQL replica at 127.0.0.1:${pair.replica?.port}: connection refused`,
    });

    // The human table says the same, on one line.
    const table = await runMeskit([
      'doctor',
      '--only',
      'postgres.replica',
      '--replica-url',
      replicaUrl,
    ]);
    expect(table.code).toBe(1);
    expect(table.stdout).toMatch(
      /\nFAIL\s+postgres\.replica\s+\d+ ms\s+cannot connect to the PostgreSQL replica at 127\.0\.0\.1:\d+: connection refused\n/,
    );
    expect(table.stderr).toBe('');
  });
  it('fails when the replica was promoted: it is no longer a replica', async () => {
    // Back up from the previous step, then failed over to.
    await pair.replica?.start();
    await pair.replica?.promote();
    const { result, replica } = await doctorReplica();
    expect(result.code).toBe(1);
    expect(replica.status).toBe('fail');
    expect(replica.message).toMatch(
      /^127\.0\.0\.1:\d+ is not a replica \(not in recovery; was it promoted\?\): point --replica-url/,
    );
  });
});
