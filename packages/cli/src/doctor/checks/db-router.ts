import { readDbStatus } from '../../internal/db-status.js';
import { urlCheck } from '../../internal/check-helpers.js';
import type { DoctorCheck } from '../types.js';

/**
 * `db-router`: the primary and the replica as db-router would route to them: the replica in
 * the read rotation (answering, in recovery, within the lag limit), or reads all on the primary.
 */
export const dbRouterCheck: DoctorCheck = urlCheck({
  id: 'db-router',
  title: 'db-router (reads on the replica)',
  setting: 'replicaUrl',
  async run(ctx, replica) {
    const primary = ctx.config.databaseUrl;
    if (!primary)
      return {
        status: 'skip',
        message: 'needs the primary too: pass --database-url or set DATABASE_URL',
      };
    ctx.step('polling the primary and the replica as db-router does');
    const { servers, problems } = await readDbStatus({
      primary,
      replicas: [replica],
      timeoutMs: ctx.timeoutMs,
    });
    const r = servers[1];
    const details = { servers };
    if (!servers[0]?.up) return { status: 'fail', message: problems.join('; '), details };
    if (!r?.inService)
      return {
        status: 'warn',
        message: `the replica ${r?.name} is out of the read rotation (${r?.lastError ?? `lag ${r?.lagSeconds.toFixed(1)} s, or not in recovery`}): db-router sends every read to the primary`,
        details,
      };
    return {
      status: 'pass',
      message: `replica ${r.name} in service, ${r.lagBytes} bytes and ${r.lagSeconds.toFixed(1)} s behind the primary`,
      details,
    };
  },
});
