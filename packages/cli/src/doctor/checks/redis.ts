import { endpointOf, urlCheck } from '../../internal/check-helpers.js';
import { redisTarget } from '@meskit/kernel';
import { describeError } from '../describe-error.js';
import { doctorRedis } from './redis-client.js';
import { checkCluster, checkSentinel } from './redis-ha.js';
import { tlsFactsOf, withTls } from '../tls-facts.js';
import type { DoctorCheck } from '../types.js';

const DEFAULT_PORT = 6379;

/**
 * `redis`: connects, PINGs and reads the server version and mode from INFO; through
 * Sentinel or on a Cluster, the group's health instead (redis-ha.ts).
 */
export const redisCheck: DoctorCheck = urlCheck({
  id: 'redis',
  title: 'Redis',
  setting: 'redisUrl',
  async run(ctx, url) {
    // Read as the components read it: rediss:// with redis-py's ssl_* parameters (a private
    // CA...), redis+sentinel://, redis+cluster://.
    const target = redisTarget(url);
    if (target.topology === 'sentinel') return checkSentinel(ctx, target);
    if (target.topology === 'cluster') return checkCluster(ctx, target);
    const endpoint = endpointOf(url, DEFAULT_PORT);
    const { tls } = target;
    const { redis, lastError, close } = doctorRedis(
      ctx,
      tls.url,
      tls.options ? { tls: tls.options } : {},
    );
    try {
      ctx.step(`connecting to Redis at ${endpoint}`);
      try {
        await redis.connect();
      } catch (err) {
        throw new Error(
          `cannot connect to Redis at ${endpoint}: ${describeError(lastError() ?? err)}`,
          { cause: err },
        );
      }
      ctx.step(`waiting for Redis at ${endpoint} to answer PING and INFO`);
      try {
        const pong = await redis.ping();
        const info = parseInfo(await redis.info('server'));
        const version = info.get('redis_version') ?? 'unknown';
        const mode = info.get('redis_mode') ?? 'unknown';
        // Valkey answers as Redis (redis_version) and names itself in server_name.
        const product = info.get('server_name') === 'valkey' ? 'Valkey' : 'Redis';
        return withTls(
          {
            status: 'pass',
            message: `${product} ${version} at ${endpoint} (${mode}), PING answered ${pong}`,
            details: { endpoint, version, mode, product },
          },
          // ioredis keeps the socket as `stream` (a TLSSocket for rediss://).
          tlsFactsOf((redis as unknown as { stream?: unknown }).stream),
        );
      } catch (err) {
        throw new Error(`Redis at ${endpoint} did not answer: ${describeError(err)}`, {
          cause: err,
        });
      }
    } finally {
      // disconnect(), not quit(): quit waits for an answer from a server that may be stuck.
      close();
    }
  },
});

/** INFO's `key:value` lines as a map (section headers and blanks skipped). */
function parseInfo(text: string): Map<string, string> {
  const entries = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#'))
      entries.set(line.slice(0, colon), line.slice(colon + 1));
  }
  return entries;
}
