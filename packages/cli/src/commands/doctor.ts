import { InvalidArgumentError, type Command } from 'commander';
import { DEFAULTS } from '../defaults.js';
import { DOCTOR_SETTINGS, resolveDoctorConfig } from '../doctor/config.js';
import { formatReportJson, formatReportText } from '../doctor/format.js';
import { runChecks } from '../doctor/registry.js';
import { EXIT_CODES } from '../exit-codes.js';
import { useColor } from '../internal/tty.js';
import type { CliContext, RegisterCommand } from '../program.js';

interface DoctorCommandOptions {
  json?: boolean;
  list?: boolean;
  only?: string[];
  timeoutMs?: number;
  maxLagSeconds?: number;
  databaseUrl?: string;
  replicaUrl?: string;
  redisUrl?: string;
  amqpUrl?: string;
  mesUrl?: string;
  pricingUrl?: string;
  cacheProxyUrl?: string;
}

/** `meskit doctor`: runs the checks of `ctx.checks` and reports them. */
export const registerDoctorCommand: RegisterCommand = (program, ctx) => {
  const env = (setting: keyof typeof DOCTOR_SETTINGS) => DOCTOR_SETTINGS[setting].env;
  program
    .command('doctor')
    .summary('check that the dependencies of meskit are reachable and healthy')
    .description(
      'Checks the PostgreSQL primary and streaming replica, Redis, RabbitMQ and the MES, concurrently, each under its own time limit. A dependency that is not configured is skipped.',
    )
    .option('--json', 'print one JSON object { ok, checks: [...] } instead of a table')
    .option(
      '--only <ids>',
      'run only these checks: comma-separated ids or id prefixes, e.g. postgres,redis (repeatable)',
      (value: string, previous: string[] | undefined) => [...(previous ?? []), ...value.split(',')],
    )
    .option('--list', 'list the available checks (respecting --only) and exit')
    .option(
      '--timeout-ms <ms>',
      `time limit of each check (default: ${DEFAULTS.timeoutMs}, env ${env('timeoutMs')})`,
      parsePositiveInteger,
    )
    .option(
      '--max-lag-seconds <seconds>',
      `replica lag above which postgres.replica warns (default: ${DEFAULTS.maxLagSeconds}, env ${env('maxLagSeconds')})`,
      parseNonNegativeNumber,
    )
    .option('--database-url <url>', `PostgreSQL primary (env ${env('databaseUrl')})`)
    .option('--replica-url <url>', `PostgreSQL streaming replica (env ${env('replicaUrl')})`)
    .option('--redis-url <url>', `Redis (env ${env('redisUrl')})`)
    .option('--amqp-url <url>', `RabbitMQ (env ${env('amqpUrl')})`)
    .option(
      '--mes-url <url>',
      `base URL of the MES; GET <url>/health must be 2xx (env ${env('mesUrl')})`,
    )
    .option(
      '--pricing-url <url>',
      `base URL of the pricing sidecar; GET <url>/readyz must be 200 (env ${env('pricingUrl')})`,
    )
    .option(
      '--cache-proxy-url <url>',
      `base URL of the cache sidecar; its first page must carry Cache-Status (env ${env('cacheProxyUrl')})`,
    )
    .addHelpText('after', () => doctorHelpFooter(ctx))
    .action(async (_options: unknown, command: Command) => {
      await runDoctor(command.opts<DoctorCommandOptions>(), ctx);
    });
};

async function runDoctor(options: DoctorCommandOptions, ctx: CliContext): Promise<void> {
  // Validate everything before running anything: a typo must not cost a round of timeouts.
  const config = resolveDoctorConfig(
    {
      databaseUrl: options.databaseUrl,
      replicaUrl: options.replicaUrl,
      redisUrl: options.redisUrl,
      amqpUrl: options.amqpUrl,
      mesUrl: options.mesUrl,
      pricingUrl: options.pricingUrl,
      cacheProxyUrl: options.cacheProxyUrl,
      timeoutMs: options.timeoutMs,
      maxLagSeconds: options.maxLagSeconds,
    },
    ctx.env,
  );
  const checks = ctx.checks.select(options.only);

  if (options.list) {
    const listed = checks.map(({ id, title }) => ({ id, title }));
    if (options.json) {
      ctx.stdout.write(`${JSON.stringify({ checks: listed }, null, 2)}\n`);
    } else {
      const width = Math.max(...listed.map(({ id }) => id.length), 0);
      ctx.stdout.write(listed.map(({ id, title }) => `${id.padEnd(width)}  ${title}\n`).join(''));
    }
    return;
  }

  const report = await runChecks(checks, config);
  ctx.stdout.write(
    options.json
      ? formatReportJson(report)
      : formatReportText(report, { color: useColor(ctx.stdout, ctx.env) }),
  );
  ctx.setExitCode(report.ok ? EXIT_CODES.ok : EXIT_CODES.failed);
}

function doctorHelpFooter(ctx: CliContext): string {
  const checks = ctx.checks.list();
  const width = Math.max(...checks.map(({ id }) => id.length), 0);
  const envVars = Object.values(DOCTOR_SETTINGS).map(({ env }) => env);
  return [
    '',
    'Checks:',
    ...checks.map(({ id, title }) => `  ${id.padEnd(width)}  ${title}`),
    '',
    'Statuses: PASS ok, WARN works but needs attention, FAIL broken, SKIP not configured.',
    `Environment (a flag wins over its variable): ${envVars.join(', ')}.`,
    'Passwords in URLs are redacted in all output.',
    '',
    'Examples:',
    '  meskit doctor',
    '  meskit doctor --only postgres --max-lag-seconds 5',
    '  meskit doctor --json | jq \'.checks[] | select(.status != "pass")\'',
  ].join('\n');
}

function parsePositiveInteger(value: string): number {
  const parsed = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(parsed) || parsed <= 0) {
    throw new InvalidArgumentError('expected a positive whole number of milliseconds.');
  }
  return parsed;
}

function parseNonNegativeNumber(value: string): number {
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed) || parsed < 0) {
    throw new InvalidArgumentError('expected a number of seconds ≥ 0.');
  }
  return parsed;
}
