import type { Command } from 'commander';
import { describeError, oneLine } from '../doctor/describe-error.js';
import { CliError } from '../errors.js';
import { EXIT_CODES } from '../exit-codes.js';
import { readDbStatus } from '../internal/db-status.js';
import { redactUrl } from '../internal/redact.js';
import { pickSetting, urlSetting, wholeNumber } from '../internal/settings.js';
import type { CliContext, RegisterCommand } from '../program.js';

/** Environment variables of `meskit db ...`. */
export const DB_ENV = {
  databaseUrl: 'DATABASE_URL',
  replicaUrls: 'DATABASE_REPLICA_URL',
} as const;

interface DbFlags {
  databaseUrl?: string;
  replicaUrl?: string[];
  timeoutMs?: string;
  json?: boolean;
}

/** `meskit db status`: what db-router sees of the primary and each replica. */
export const registerDbCommand: RegisterCommand = (program: Command, ctx: CliContext) => {
  const db = program
    .command('db')
    .summary('PostgreSQL as db-router sees it: the primary and each replica, their lag')
    .description(
      `Reads the primary (--database-url, env ${DB_ENV.databaseUrl}) and its replicas (--replica-url, repeatable; env ${DB_ENV.replicaUrls}, comma-separated) the way db-router's poller does.`,
    );
  db.command('status')
    .summary('each server: up, in the read rotation, WAL position, lag in bytes and seconds')
    .option('--database-url <url>', `the primary (env ${DB_ENV.databaseUrl})`)
    .option('--replica-url <url...>', `replicas (env ${DB_ENV.replicaUrls}, comma-separated)`)
    .option('--timeout-ms <ms>', 'how long to wait for the servers (default 5000)')
    .option('--json', 'print one JSON object')
    .action(async (flags: DbFlags) => {
      const primarySetting = pickSetting(ctx.env, '--database-url', flags.databaseUrl, [
        DB_ENV.databaseUrl,
      ]);
      if (!primarySetting)
        throw new CliError(
          'CONFIG',
          `no primary: pass --database-url or set ${DB_ENV.databaseUrl}`,
        );
      const primary = urlSetting(primarySetting, ['postgres:', 'postgresql:']).toString();
      const replicaRaw =
        flags.replicaUrl && flags.replicaUrl.length > 0
          ? flags.replicaUrl.map((raw) => ({ raw, origin: '--replica-url' }))
          : (pickSetting(ctx.env, '--replica-url', undefined, [DB_ENV.replicaUrls])
              ?.raw.split(',')
              .map((raw) => ({ raw: raw.trim(), origin: `${DB_ENV.replicaUrls} (environment)` })) ??
            []);
      const replicas = replicaRaw.map((s) =>
        urlSetting(s, ['postgres:', 'postgresql:']).toString(),
      );
      const timeoutMs =
        flags.timeoutMs === undefined
          ? 5_000
          : wholeNumber({ raw: flags.timeoutMs, origin: '--timeout-ms' }, 100, 600_000);
      try {
        const { servers, problems } = await readDbStatus({ primary, replicas, timeoutMs });
        if (problems.length > 0) ctx.setExitCode(EXIT_CODES.failed);
        if (flags.json) {
          ctx.stdout.write(`${JSON.stringify({ servers, problems })}\n`);
          return;
        }
        const rows = [
          ['server', 'role', 'up', 'in service', 'WAL position', 'lag bytes', 'lag s', 'error'],
          ...servers.map((s) => [
            s.name,
            s.role,
            s.up ? 'yes' : 'no',
            s.inService ? 'yes' : 'no',
            s.lsn ?? '-',
            s.role === 'replica' ? String(s.lagBytes) : '-',
            s.role === 'replica' ? s.lagSeconds.toFixed(1) : '-',
            s.lastError ? oneLine(s.lastError).slice(0, 80) : '',
          ]),
        ];
        const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
        ctx.stdout.write(
          `${rows
            .map((r) =>
              r
                .map((c, i) => c.padEnd(widths[i]!))
                .join('  ')
                .trimEnd(),
            )
            .join('\n')}\n${problems.map((p) => `\n${p}`).join('')}${problems.length ? '\n' : ''}`,
        );
      } catch (error) {
        ctx.stderr.write(
          `meskit db: reading ${redactUrl(primary)} failed: ${oneLine(describeError(error))}\n`,
        );
        ctx.setExitCode(EXIT_CODES.failed);
      }
    });
};
