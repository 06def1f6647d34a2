// `redis` for a replicated Redis: through Sentinel (what each Sentinel names as the master,
// whether they agree, the master's role and replicas) or a Cluster (its state, the masters and
// whether each has a replica). A failover needs a replica to promote: none is a warning.
import type { RedisHost, RedisTarget } from '@meskit/kernel';
import { describeError } from '../describe-error.js';
import { doctorRedis } from './redis-client.js';
import type { CheckContext, CheckOutcome } from '../types.js';

type Sentinel = Extract<RedisTarget, { topology: 'sentinel' }>;
type ClusterTarget = Extract<RedisTarget, { topology: 'cluster' }>;

/** One command on a short-lived connection: the first answer, no reconnect loop. */
async function ask<T>(
  ctx: CheckContext,
  host: RedisHost,
  auth: { username?: string; password?: string },
  command: readonly string[],
): Promise<T> {
  const { redis, lastError, close } = doctorRedis(ctx, undefined, {
    host: host.host,
    port: host.port,
    ...auth,
  });
  try {
    try {
      await redis.connect();
    } catch (error) {
      throw new Error(describeError(lastError() ?? error), { cause: error });
    }
    return (await redis.call(command[0]!, ...command.slice(1))) as T;
  } finally {
    close();
  }
}

const at = (host: RedisHost): string => `${host.host}:${host.port}`;

function infoFields(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) out.set(line.slice(0, colon), line.slice(colon + 1));
  }
  return out;
}

export async function checkSentinel(ctx: CheckContext, target: Sentinel): Promise<CheckOutcome> {
  const sentinelAuth = {
    ...(target.sentinelUsername !== undefined ? { username: target.sentinelUsername } : {}),
    ...(target.sentinelPassword !== undefined ? { password: target.sentinelPassword } : {}),
  };
  ctx.step(`asking ${target.sentinels.length} Sentinels for the master ${target.name}`);
  const answers = await Promise.all(
    target.sentinels.map(async (sentinel) => {
      try {
        const reply = await ask<string[] | null>(ctx, sentinel, sentinelAuth, [
          'SENTINEL',
          'get-master-addr-by-name',
          target.name,
        ]);
        return { sentinel, master: reply ? `${reply[0]}:${reply[1]}` : null, error: undefined };
      } catch (error) {
        return { sentinel, master: null, error: describeError(error) };
      }
    }),
  );
  const named = answers.filter((a) => a.master !== null);
  if (named.length === 0) {
    const why = answers
      .map((a) => `${at(a.sentinel)}: ${a.error ?? `does not monitor ${target.name}`}`)
      .join('; ');
    return { status: 'fail', message: `no Sentinel names a master ${target.name} (${why})` };
  }
  const votes = new Map<string, number>();
  for (const a of named) votes.set(a.master!, (votes.get(a.master!) ?? 0) + 1);
  const [master, count] = [...votes.entries()].sort((x, y) => y[1] - x[1])[0]!;
  const [host, port] = [
    master.slice(0, master.lastIndexOf(':')),
    master.slice(master.lastIndexOf(':') + 1),
  ];
  const auth = {
    ...(target.username !== undefined ? { username: target.username } : {}),
    ...(target.password !== undefined ? { password: target.password } : {}),
  };
  ctx.step(`asking the master ${master} for its role and replicas`);
  let info: Map<string, string>;
  try {
    info = infoFields(
      await ask<string>(ctx, { host: host!, port: Number(port) }, auth, ['INFO', 'replication']),
    );
  } catch (error) {
    return {
      status: 'fail',
      message: `the Sentinels name ${master} as master ${target.name}, which does not answer: ${describeError(error)}`,
    };
  }
  const role = info.get('role') ?? 'unknown';
  const replicas = Number(info.get('connected_slaves') ?? 0);
  const details = {
    topology: 'sentinel',
    name: target.name,
    master,
    sentinels: target.sentinels.length,
    agreeing: count,
    role,
    replicas,
  };
  const base = `Sentinel: ${count} of ${target.sentinels.length} Sentinels name ${master} as master ${target.name}; it answers as ${role} with ${replicas} replica${replicas === 1 ? '' : 's'}`;
  if (role !== 'master')
    return {
      status: 'fail',
      message: `${base}: a failover is under way, or the Sentinels are wrong`,
      details,
    };
  const problems: string[] = [];
  if (count < named.length) problems.push('the Sentinels disagree on the master');
  if (named.length < answers.length)
    problems.push(`${answers.length - named.length} Sentinel(s) did not answer`);
  if (replicas === 0) problems.push('no replica: a failover would have nothing to promote');
  return problems.length > 0
    ? { status: 'warn', message: `${base}; ${problems.join('; ')}`, details }
    : { status: 'pass', message: base, details };
}

export async function checkCluster(
  ctx: CheckContext,
  target: ClusterTarget,
): Promise<CheckOutcome> {
  const auth = {
    ...(target.username !== undefined ? { username: target.username } : {}),
    ...(target.password !== undefined ? { password: target.password } : {}),
  };
  const errors: string[] = [];
  for (const seed of target.nodes) {
    ctx.step(`asking the cluster node ${at(seed)} for the cluster's state`);
    let state: Map<string, string>;
    let nodes: string;
    try {
      state = infoFields(await ask<string>(ctx, seed, auth, ['CLUSTER', 'INFO']));
      nodes = await ask<string>(ctx, seed, auth, ['CLUSTER', 'NODES']);
    } catch (error) {
      errors.push(`${at(seed)}: ${describeError(error)}`);
      continue;
    }
    const lines = nodes.trim().split('\n').filter(Boolean);
    const masters = lines.filter(
      (l) => /\bmaster\b/.test(l.split(' ')[2] ?? '') && l.split(' ').length > 8,
    );
    const failed = lines.filter((l) => /\bfail\b/.test(l.split(' ')[2] ?? '')).length;
    const withReplica = masters.filter((m) => {
      const id = m.split(' ')[0];
      return lines.some((l) => l.split(' ')[3] === id && !/\bfail\b/.test(l.split(' ')[2] ?? ''));
    }).length;
    const clusterState = state.get('cluster_state') ?? 'unknown';
    const details = {
      topology: 'cluster',
      state: clusterState,
      masters: masters.length,
      mastersWithReplica: withReplica,
      failedNodes: failed,
    };
    const base = `Cluster via ${at(seed)}: state ${clusterState}, ${masters.length} masters serving slots, ${withReplica} with a replica${failed > 0 ? `, ${failed} node(s) failed` : ''}`;
    if (clusterState !== 'ok')
      return { status: 'fail', message: `${base}: some slots are not served`, details };
    if (withReplica < masters.length || failed > 0)
      return {
        status: 'warn',
        message: `${base}: a master without a replica has nothing to fail over to`,
        details,
      };
    return { status: 'pass', message: base, details };
  }
  return { status: 'fail', message: `no cluster node answered (${errors.join('; ')})` };
}
