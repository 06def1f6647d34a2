import { inspectQueues, outboxBacklog } from '@meskit/mq-reliable';
import pg from 'pg';
import { MESSAGING_DEFAULTS } from '../../defaults.js';
import { endpointOf, urlCheck } from '../../internal/check-helpers.js';
import { describeError } from '../describe-error.js';
import type { DoctorCheck } from '../types.js';

/**
 * `mq`: the queues of mq-reliable consumers (env MESKIT_MQ_QUEUES, comma-separated; default the
 * MES's reliable inbox and cache-proxy's): each existing one has a consumer and an empty
 * dead-letter queue; with a database, the outbox (when there is one) has nothing older than
 * MESKIT_MQ_MAX_OUTBOX_AGE_SECONDS (default 60) waiting.
 */
export const mqCheck: DoctorCheck = urlCheck({
  id: 'mq',
  title: 'mq-reliable queues',
  setting: 'amqpUrl',
  async run(ctx, url) {
    const env = ctx.config.env;
    const queues = (env['MESKIT_MQ_QUEUES']?.trim() || MESSAGING_DEFAULTS.queues.join(','))
      .split(',')
      .map((q) => q.trim())
      .filter((q) => q !== '');
    const maxAge = Number(
      env['MESKIT_MQ_MAX_OUTBOX_AGE_SECONDS'] ?? MESSAGING_DEFAULTS.maxOutboxAgeSeconds,
    );
    const endpoint = endpointOf(url, url.startsWith('amqps:') ? 5671 : 5672);
    ctx.step(`connecting to RabbitMQ at ${endpoint} to read the queues ${queues.join(', ')}`);
    const reports = (await inspectQueues({ url, queues, timeoutMs: ctx.timeoutMs })).filter(
      (r) => r.queue.messages !== undefined,
    );
    const problems: string[] = [];
    for (const r of reports) {
      if (r.queue.consumers === 0)
        problems.push(`${r.queue.queue} has no consumer (${r.queue.messages} waiting)`);
      if ((r.deadLetters.messages ?? 0) > 0)
        problems.push(
          `${r.deadLetters.queue} holds ${r.deadLetters.messages} dead letter(s): \`meskit mq dlq list ${r.queue.queue}\``,
        );
    }
    let outbox: { pending: number; oldestAgeSeconds: number } | undefined;
    if (ctx.config.databaseUrl) {
      ctx.step('reading the outbox backlog');
      const pool = new pg.Pool({
        connectionString: ctx.config.databaseUrl,
        max: 1,
        connectionTimeoutMillis: ctx.timeoutMs,
      });
      pool.on('error', () => undefined);
      try {
        outbox = await outboxBacklog(pool, 'meskit_outbox');
      } catch (error) {
        // No outbox table: this database does not use one.
        if ((error as { code?: string }).code !== '42P01')
          problems.push(`cannot read the outbox: ${describeError(error)}`);
      } finally {
        await pool.end();
      }
      if (outbox && outbox.oldestAgeSeconds > maxAge)
        problems.push(
          `the outbox has ${outbox.pending} message(s) waiting, the oldest for ${Math.round(outbox.oldestAgeSeconds)} s (over ${maxAge} s): is the relay running and the broker reachable?`,
        );
    }
    const details = {
      queues: reports.map((r) => ({
        queue: r.queue.queue,
        messages: r.queue.messages,
        consumers: r.queue.consumers,
        deadLetters: r.deadLetters.messages ?? 0,
      })),
      ...(outbox ? { outbox } : {}),
    };
    if (reports.length === 0 && !outbox)
      return {
        status: 'skip',
        message: `none of the queues ${queues.join(', ')} exists (set MESKIT_MQ_QUEUES to your consumers' queues)`,
        details,
      };
    if (problems.length > 0) return { status: 'warn', message: problems.join('; '), details };
    const summary = reports.map(
      (r) => `${r.queue.queue}: ${r.queue.messages} ready, ${r.queue.consumers} consumer(s)`,
    );
    if (outbox) summary.push(`outbox: ${outbox.pending} pending`);
    return { status: 'pass', message: `${summary.join('; ')}; no dead letters`, details };
  },
});
