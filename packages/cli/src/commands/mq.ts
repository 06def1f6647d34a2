import { MESSAGING_DEFAULTS } from '../defaults.js';
import type { Command } from 'commander';
import pg from 'pg';
import {
  inspectQueues,
  listDeadLetters,
  outboxBacklog,
  replayDeadLetters,
  type DeadLetter,
  type QueueDepth,
  type QueueReport,
} from '@meskit/mq-reliable';
import { describeError, oneLine } from '../doctor/describe-error.js';
import { CliError } from '../errors.js';
import { EXIT_CODES } from '../exit-codes.js';
import { redactUrl } from '../internal/redact.js';
import { pickSetting, urlSetting, wholeNumber } from '../internal/settings.js';
import type { CliContext, RegisterCommand } from '../program.js';

/** Environment variables of `meskit mq ...`, each the fallback of one flag. */
export const MQ_ENV = {
  amqpUrl: 'AMQP_URL',
  queues: 'MESKIT_MQ_QUEUES',
  databaseUrl: 'DATABASE_URL',
  outboxTable: 'MESKIT_MQ_OUTBOX_TABLE',
} as const;

interface MqFlags {
  amqpUrl?: string;
  queue?: string[];
  databaseUrl?: string;
  outboxTable?: string;
  timeoutMs?: string;
  limit?: string;
  messageId?: string;
  json?: boolean;
}

const QUEUE_NAME = /^[A-Za-z0-9_.:-]{1,255}$/;
const TABLE_NAME = /^[a-z_][a-z0-9_]{0,62}(\.[a-z_][a-z0-9_]{0,62})?$/;

function amqpUrlOf(flags: MqFlags, ctx: CliContext): string {
  const setting = pickSetting(ctx.env, '--amqp-url', flags.amqpUrl, [MQ_ENV.amqpUrl]);
  if (!setting)
    throw new CliError('CONFIG', `no RabbitMQ URL: pass --amqp-url or set ${MQ_ENV.amqpUrl}`);
  return urlSetting(setting, ['amqp:', 'amqps:']).toString();
}

function timeoutOf(flags: MqFlags): number {
  return flags.timeoutMs === undefined
    ? 5_000
    : wholeNumber({ raw: flags.timeoutMs, origin: '--timeout-ms' }, 1, 600_000);
}

function checkQueueName(name: string, origin: string): string {
  if (!QUEUE_NAME.test(name))
    throw new CliError(
      'USAGE',
      `invalid queue name from ${origin}: "${oneLine(name).slice(0, 60)}" (letters, digits, . _ : -)`,
    );
  return name;
}

function queuesOf(flags: MqFlags, ctx: CliContext): string[] {
  if (flags.queue && flags.queue.length > 0)
    return flags.queue.map((q) => checkQueueName(q, '--queue'));
  const env = pickSetting(ctx.env, '--queue', undefined, [MQ_ENV.queues]);
  if (env) return env.raw.split(',').map((q) => checkQueueName(q.trim(), env.origin));
  return [...MESSAGING_DEFAULTS.queues];
}

/** The broker and `--limit` of a `dlq` subcommand, its queue argument checked. */
function dlqTarget(
  queue: string,
  flags: MqFlags,
  ctx: CliContext,
  defaultLimit: number,
): { url: string; limit: number } {
  checkQueueName(queue, 'the queue argument');
  return {
    url: amqpUrlOf(flags, ctx),
    limit:
      flags.limit === undefined
        ? defaultLimit
        : wholeNumber({ raw: flags.limit, origin: '--limit' }, 1, 100_000),
  };
}

/** Runs `work`; a broker or database that cannot be reached is exit 1 with one line. */
async function operation<T>(
  ctx: CliContext,
  what: string,
  work: () => Promise<T>,
): Promise<T | undefined> {
  try {
    return await work();
  } catch (error) {
    ctx.stderr.write(`meskit mq: ${what} failed: ${oneLine(describeError(error))}\n`);
    ctx.setExitCode(EXIT_CODES.failed);
    return undefined;
  }
}

function count(depth: QueueDepth): string {
  return depth.messages === undefined ? 'missing' : String(depth.messages);
}

function formatReports(reports: QueueReport[], outbox: string | undefined): string {
  const rows = [
    ['queue', 'ready', 'consumers', 'retrying', 'dead letters'],
    ...reports.map((r) => [
      r.queue.queue,
      count(r.queue),
      r.queue.consumers === undefined ? '-' : String(r.queue.consumers),
      String(r.retries.reduce((sum, q) => sum + (q.messages ?? 0), 0)),
      count(r.deadLetters),
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const lines = rows.map((row) =>
    row
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join('  ')
      .trimEnd(),
  );
  if (outbox) lines.push('', outbox);
  return `${lines.join('\n')}\n`;
}

function formatLetter(l: DeadLetter): string {
  return [
    `${l.messageId}  ${l.exchange || '(default exchange)'} ${l.routingKey}  ${l.errorCode ?? '?'}${l.failedAt ? `  at ${l.failedAt}` : ''}${l.attempts ? `  after ${l.attempts} retries` : ''}`,
    ...(l.error ? [`    ${oneLine(l.error)}`] : []),
    `    ${oneLine(l.body)}`,
  ].join('\n');
}

/** `meskit mq stats|dlq list|dlq replay`: the queues of mq-reliable consumers, over AMQP. */
export const registerMqCommand: RegisterCommand = (program: Command, ctx: CliContext) => {
  const mq = program
    .command('mq')
    .summary('queues of mq-reliable consumers: depth, consumers, dead letters, replay')
    .description(
      `Reads the queues of mq-reliable consumers over AMQP (no management plugin needed). Settings: --amqp-url (env ${MQ_ENV.amqpUrl}); the queues with --queue (repeatable; env ${MQ_ENV.queues}, comma-separated; default ${MESSAGING_DEFAULTS.queues.join(', ')}).`,
    );
  const withBroker = (command: Command): Command =>
    command
      .option('--amqp-url <url>', `RabbitMQ (env ${MQ_ENV.amqpUrl})`)
      .option('--timeout-ms <ms>', 'connection time limit (default 5000)');

  withBroker(
    mq
      .command('stats')
      .summary(
        "each queue's ready messages, consumers, retrying and dead-lettered messages; the outbox backlog",
      )
      .option('--queue <name...>', `queues to report (env ${MQ_ENV.queues})`)
      .option('--database-url <url>', `also report the outbox backlog (env ${MQ_ENV.databaseUrl})`)
      .option(
        '--outbox-table <name>',
        `the outbox table (default meskit_outbox; env ${MQ_ENV.outboxTable})`,
      )
      .option('--json', 'print one JSON object'),
  ).action(async (flags: MqFlags) => {
    const url = amqpUrlOf(flags, ctx);
    const queues = queuesOf(flags, ctx);
    const timeoutMs = timeoutOf(flags);
    const dbSetting = pickSetting(ctx.env, '--database-url', flags.databaseUrl, [
      MQ_ENV.databaseUrl,
    ]);
    const databaseUrl = dbSetting
      ? urlSetting(dbSetting, ['postgres:', 'postgresql:']).toString()
      : undefined;
    const table =
      pickSetting(ctx.env, '--outbox-table', flags.outboxTable, [MQ_ENV.outboxTable])?.raw ??
      'meskit_outbox';
    if (!TABLE_NAME.test(table))
      throw new CliError(
        'USAGE',
        `invalid outbox table "${oneLine(table).slice(0, 60)}": a lower-case SQL name`,
      );
    const reports = await operation(ctx, `reading the queues at ${redactUrl(url)}`, () =>
      inspectQueues({ url, queues, timeoutMs }),
    );
    if (!reports) return;
    let outbox: { pending: number; oldestAgeSeconds: number } | { error: string } | undefined;
    if (databaseUrl) {
      const pool = new pg.Pool({
        connectionString: databaseUrl,
        max: 1,
        connectionTimeoutMillis: timeoutMs,
      });
      pool.on('error', () => undefined);
      try {
        outbox = await outboxBacklog(pool, table);
      } catch (error) {
        outbox = { error: oneLine(describeError(error)) };
      } finally {
        await pool.end();
      }
    }
    if (flags.json) {
      ctx.stdout.write(`${JSON.stringify({ queues: reports, ...(outbox ? { outbox } : {}) })}\n`);
      return;
    }
    const outboxLine =
      outbox === undefined
        ? undefined
        : 'error' in outbox
          ? `outbox ${table}: cannot read it (${outbox.error})`
          : `outbox ${table}: ${outbox.pending} pending, oldest ${outbox.oldestAgeSeconds.toFixed(1)} s`;
    ctx.stdout.write(formatReports(reports, outboxLine));
  });

  const dlq = mq
    .command('dlq')
    .summary("a consumer's dead-letter queue (<queue>.dlq): list, replay");

  withBroker(
    dlq
      .command('list')
      .summary('show dead letters with their error; they stay in the queue')
      .argument('<queue>', "the consumer's queue (its dead letters are in <queue>.dlq)")
      .option('--limit <n>', 'at most this many (default 20)')
      .option('--json', 'print one JSON object'),
  ).action(async (queue: string, flags: MqFlags) => {
    const { url, limit } = dlqTarget(queue, flags, ctx, 20);
    const letters = await operation(ctx, `reading ${queue}.dlq`, () =>
      listDeadLetters({ url, queue, limit, timeoutMs: timeoutOf(flags) }),
    );
    if (!letters) return;
    if (flags.json) {
      ctx.stdout.write(`${JSON.stringify({ queue: `${queue}.dlq`, deadLetters: letters })}\n`);
      return;
    }
    ctx.stdout.write(
      letters.length === 0
        ? `${queue}.dlq is empty\n`
        : `${letters.length} dead letter(s) in ${queue}.dlq (left in place):\n${letters.map(formatLetter).join('\n')}\n`,
    );
  });

  withBroker(
    dlq
      .command('replay')
      .summary('publish dead letters again where they were first published, with their message-id')
      .argument('<queue>', "the consumer's queue")
      .option('--limit <n>', 'at most this many (default 100)')
      .option('--message-id <id>', 'only this message')
      .option('--json', 'print one JSON object'),
  ).action(async (queue: string, flags: MqFlags) => {
    const { url, limit } = dlqTarget(queue, flags, ctx, 100);
    const result = await operation(ctx, `replaying ${queue}.dlq`, () =>
      replayDeadLetters({
        url,
        queue,
        limit,
        timeoutMs: timeoutOf(flags),
        ...(flags.messageId !== undefined ? { messageId: flags.messageId } : {}),
      }),
    );
    if (!result) return;
    if (result.failed.length > 0) ctx.setExitCode(EXIT_CODES.failed);
    if (flags.json) {
      ctx.stdout.write(
        `${JSON.stringify({
          replayed: result.replayed.map((l) => l.messageId),
          failed: result.failed.map((f) => ({ messageId: f.letter.messageId, reason: f.reason })),
        })}\n`,
      );
      return;
    }
    const lines = [
      `${result.replayed.length} dead letter(s) of ${queue}.dlq published again with their message-id${result.replayed.length ? `: ${result.replayed.map((l) => l.messageId).join(', ')}` : ''}`,
      ...result.failed.map(
        (f) => `not replayed (left in ${queue}.dlq): ${f.letter.messageId}: ${f.reason}`,
      ),
    ];
    if (
      flags.messageId !== undefined &&
      result.replayed.length === 0 &&
      result.failed.length === 0
    ) {
      lines.push(`no message ${flags.messageId} in ${queue}.dlq`);
      ctx.setExitCode(EXIT_CODES.failed);
    }
    ctx.stdout.write(`${lines.join('\n')}\n`);
  });
};
