import { readFile } from 'node:fs/promises';
import { InvalidArgumentError, type Command } from 'commander';
import {
  createPricingRunner,
  createPricingServer,
  InvalidOptionError,
  ListenError,
  POOL_DEFAULTS,
  PriceModelError,
  RUNNER_DEFAULTS,
  SERVER_DEFAULTS,
  validatePriceModel,
  type PriceModel,
  type PricingRunnerOptions,
} from '@meskit/pricing-runner';
import { CliError } from '../errors.js';
import { redisUrlSetting, untilSignal } from '../internal/settings.js';
import type { CliContext, RegisterCommand } from '../program.js';

interface ServeOptions {
  host?: string;
  port?: number;
  threads?: number;
  maxQueue?: number;
  timeoutMs?: number;
  maxBodyBytes?: number;
  syncWaitMs?: number;
  redisUrl?: string;
  cacheTtlMs?: number;
  priceModel?: string;
}

/** Environment variables of `meskit pricing serve`, each the fallback of one flag. */
export const PRICING_SERVE_ENV = {
  host: 'MESKIT_PRICING_HOST',
  port: 'MESKIT_PRICING_PORT',
  threads: 'MESKIT_PRICING_THREADS',
  redisUrl: 'MESKIT_PRICING_REDIS_URL',
  priceModel: 'MESKIT_PRICING_PRICE_MODEL',
} as const;

function integer(min: number) {
  return (raw: string): number => {
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min)
      throw new InvalidArgumentError(`expected a whole number >= ${min}`);
    return value;
  };
}

/** A flag, else its environment variable (validated like the flag), else undefined. */
function fromEnv(
  ctx: CliContext,
  name: keyof typeof PRICING_SERVE_ENV,
  parse?: (raw: string) => number,
): string | number | undefined {
  const raw = ctx.env[PRICING_SERVE_ENV[name]];
  if (raw === undefined || raw === '') return undefined;
  if (!parse) return raw;
  try {
    return parse(raw);
  } catch (error) {
    throw new CliError('CONFIG', `${PRICING_SERVE_ENV[name]}=${raw}: ${(error as Error).message}`);
  }
}

/** The library's option names (InvalidOptionError's `option`) as the flags that set them. */
const OPTION_FLAGS: Readonly<Record<string, string>> = {
  threads: `--threads (or ${PRICING_SERVE_ENV.threads})`,
  maxQueue: '--max-queue',
  timeoutMs: '--timeout-ms',
  'analyze.maxBytes': '--max-body-bytes',
  'cache.redis': `--redis-url (or ${PRICING_SERVE_ENV.redisUrl})`,
  'cache.ttlMs': '--cache-ttl-ms',
  host: `--host (or ${PRICING_SERVE_ENV.host})`,
  port: `--port (or ${PRICING_SERVE_ENV.port})`,
  maxBodyBytes: '--max-body-bytes',
  syncWaitMs: '--sync-wait-ms',
};

/** The library's errors as the CLI's: a refused option names its flag (exit 2), a port taken exits 1. */
function toCliError(error: unknown): unknown {
  if (error instanceof ListenError)
    return new CliError('LISTEN_FAILED', error.message, { cause: error });
  if (error instanceof InvalidOptionError) {
    // "createPricingRunner: option timeoutMs must be ..." -> "invalid --timeout-ms: must be ...".
    const flag = OPTION_FLAGS[error.option];
    const prefix = `${error.component}: option ${error.option} `;
    const message =
      flag && error.message.startsWith(prefix)
        ? `invalid ${flag}: ${error.message.slice(prefix.length)}`
        : error.message;
    return new CliError('CONFIG', message, { cause: error });
  }
  return error;
}

async function loadPriceModel(file: string): Promise<PriceModel> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new CliError('USAGE', `cannot read the price model ${file}: ${(error as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text) as unknown;
  } catch (error) {
    throw new CliError('USAGE', `the price model ${file} is not JSON: ${(error as Error).message}`);
  }
  try {
    return validatePriceModel(json);
  } catch (error) {
    if (error instanceof PriceModelError) throw new CliError('USAGE', `${file}: ${error.message}`);
    throw error;
  }
}

/** `meskit pricing serve`: the pricing sidecar (createPricingServer over createPricingRunner). */
export const registerPricingCommand: RegisterCommand = (program: Command, ctx: CliContext) => {
  const pricing = program
    .command('pricing')
    .summary('the pricing sidecar')
    .description('Runs pricing-runner as an HTTP sidecar beside the MES.');
  pricing
    .command('serve')
    .summary('serve quotes over HTTP (worker threads, result cache, jobs, /metrics)')
    .description(
      'Prices 3D models posted to POST /v1/quotes (raw body or multipart upload) in a pool of worker threads, with a result cache (in memory, or Redis shared by several sidecars). Slow quotes become jobs to poll at GET /v1/jobs/:id. Also serves /healthz, /readyz and /metrics. Prints one JSON line {"event":"listening","url":...} once ready; SIGTERM or SIGINT stops it after the requests in progress.',
    )
    .option(
      '--host <address>',
      `address to listen on (default ${SERVER_DEFAULTS.host}, env ${PRICING_SERVE_ENV.host})`,
    )
    .option(
      '--port <n>',
      `port, 0 for any free one (default ${SERVER_DEFAULTS.port}, env ${PRICING_SERVE_ENV.port})`,
      integer(0),
    )
    .option(
      '--threads <n>',
      `worker threads (default: cores - 1, at least 1; env ${PRICING_SERVE_ENV.threads})`,
      integer(1),
    )
    .option(
      '--max-queue <n>',
      `quotes waiting for a thread before 503 QUEUE_FULL (default ${POOL_DEFAULTS.maxQueue})`,
      integer(0),
    )
    .option(
      '--timeout-ms <n>',
      `longest a model may take before 422 TIMEOUT (default ${POOL_DEFAULTS.timeoutMs})`,
      integer(1),
    )
    .option(
      '--max-body-bytes <n>',
      `largest model accepted, else 413 (default ${SERVER_DEFAULTS.maxBodyBytes})`,
      integer(1),
    )
    .option(
      '--sync-wait-ms <n>',
      `wait for a price before answering 202 with a job (default ${SERVER_DEFAULTS.syncWaitMs})`,
      integer(0),
    )
    .option(
      '--redis-url <url>',
      `keep the result cache in Redis, shared by every sidecar using it (default: in memory; env ${PRICING_SERVE_ENV.redisUrl})`,
    )
    .option(
      '--cache-ttl-ms <n>',
      `how long a result is served from the cache (default ${RUNNER_DEFAULTS.cache.ttlMs})`,
      integer(1),
    )
    .option(
      '--price-model <file>',
      `JSON price model (alloys, prices, costs; default: the built-in model; env ${PRICING_SERVE_ENV.priceModel})`,
    )
    .addHelpText(
      'after',
      '\nTraces, logs and the process metrics: run it under the telemetry bootstrap, e.g.\n  NODE_OPTIONS="--import @meskit/otel-bootstrap/register" meskit pricing serve',
    )
    .action(async (options: ServeOptions) => {
      const port = options.port ?? (fromEnv(ctx, 'port', integer(0)) as number | undefined);
      if (port !== undefined && port > 65535)
        throw new CliError('USAGE', `--port must be at most 65535, got ${port}`);
      const threads =
        options.threads ?? (fromEnv(ctx, 'threads', integer(1)) as number | undefined);
      const redisUrl = options.redisUrl ?? (fromEnv(ctx, 'redisUrl') as string | undefined);
      if (redisUrl !== undefined)
        redisUrlSetting({
          raw: redisUrl,
          origin: options.redisUrl !== undefined ? '--redis-url' : PRICING_SERVE_ENV.redisUrl,
        });
      const modelFile = options.priceModel ?? (fromEnv(ctx, 'priceModel') as string | undefined);
      const runnerOptions: PricingRunnerOptions & { offload?: undefined } = {
        ...(threads !== undefined ? { threads } : {}),
        ...(options.maxQueue !== undefined ? { maxQueue: options.maxQueue } : {}),
        ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
        ...(options.maxBodyBytes !== undefined
          ? { analyze: { maxBytes: options.maxBodyBytes } }
          : {}),
        cache: {
          ...(redisUrl !== undefined ? { redis: redisUrl } : {}),
          ...(options.cacheTtlMs !== undefined ? { ttlMs: options.cacheTtlMs } : {}),
        },
      };
      if (modelFile !== undefined) runnerOptions.priceModel = await loadPriceModel(modelFile);
      let runner;
      try {
        runner = createPricingRunner(runnerOptions);
      } catch (error) {
        // The flags' own parsing catches most mistakes; what is left (a value out of the
        // library's range) is refused there, naming the option.
        throw toCliError(error);
      }
      const stopped = untilSignal();
      let server;
      try {
        server = await createPricingServer({
          runner,
          ...((options.host ?? ctx.env[PRICING_SERVE_ENV.host])
            ? { host: options.host ?? ctx.env[PRICING_SERVE_ENV.host] }
            : {}),
          ...(port !== undefined ? { port } : {}),
          ...(options.maxBodyBytes !== undefined ? { maxBodyBytes: options.maxBodyBytes } : {}),
          ...(options.syncWaitMs !== undefined ? { syncWaitMs: options.syncWaitMs } : {}),
        });
      } catch (error) {
        await runner.close();
        throw toCliError(error);
      }
      ctx.stdout.write(`${JSON.stringify({ event: 'listening', url: server.url })}\n`);
      const signal = await stopped;
      ctx.stderr.write(`${signal}: finishing the requests in progress, then stopping\n`);
      await server.close();
      await runner.close();
    });
};
