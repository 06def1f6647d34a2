// Reading the process environment for main.ts and seed-cli.ts (never at import time).
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULTS, MESSAGING_MODES, type MessagingMode, type ReferenceMesOptions } from '../mes.js';
import { isLogLevel, LOG_LEVELS } from './log.js';
import { isPricingMode, PRICING_MODES } from './pricing.js';

/** A configuration mistake: main.ts prints the message as its one error line. */
export class ConfigError extends Error {
  readonly code = 'BAD_CONFIG';

  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

function isMessagingMode(value: string): value is MessagingMode {
  return (MESSAGING_MODES as readonly string[]).includes(value);
}

type Env = Readonly<Record<string, string | undefined>>;

/** Empty means unset: `FOO= node main.js` should not configure an empty URL. */
function read(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

export function requireDatabaseUrl(env: Env): string {
  const url = read(env, 'DATABASE_URL');
  if (url === undefined) {
    throw new ConfigError(
      'DATABASE_URL is not set; set it to the PostgreSQL URL, e.g. postgres://user@127.0.0.1:5432/mes',
    );
  }
  checkUrl('DATABASE_URL', url, ['postgres:', 'postgresql:']);
  return url;
}

/** The options main.ts passes to createReferenceMes, from the variables in the README. */
export function readMesEnv(env: Env): ReferenceMesOptions {
  const databaseUrl = requireDatabaseUrl(env);
  const amqpUrl = read(env, 'AMQP_URL');
  if (amqpUrl !== undefined) checkUrl('AMQP_URL', amqpUrl, ['amqp:', 'amqps:']);

  const portText = read(env, 'MES_PORT') ?? '8080';
  const port = /^[0-9]{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 0 && port <= 65535)) {
    throw new ConfigError(`MES_PORT must be an integer from 0 to 65535, got "${portText}"`);
  }
  const workText = read(env, 'MES_PRICING_WORK') ?? String(DEFAULTS.pricingWork);
  const pricingWork = Number(workText);
  if (!Number.isFinite(pricingWork) || pricingWork <= 0) {
    throw new ConfigError(`MES_PRICING_WORK must be a number > 0, got "${workText}"`);
  }
  const pricing = (read(env, 'MES_PRICING') ?? DEFAULTS.pricing).toLowerCase();
  if (!isPricingMode(pricing)) {
    throw new ConfigError(
      `MES_PRICING must be one of ${PRICING_MODES.join(', ')} (default ${DEFAULTS.pricing}), got "${pricing}"`,
    );
  }
  const messaging = (read(env, 'MES_MESSAGING') ?? DEFAULTS.messaging).toLowerCase();
  if (!isMessagingMode(messaging)) {
    throw new ConfigError(
      `MES_MESSAGING must be one of ${MESSAGING_MODES.join(', ')} (default ${DEFAULTS.messaging}), got "${messaging}"`,
    );
  }
  const logLevel = (read(env, 'MES_LOG_LEVEL') ?? DEFAULTS.logLevel).toLowerCase();
  if (!isLogLevel(logLevel)) {
    throw new ConfigError(
      `MES_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`,
    );
  }
  const pagesApiUrl = read(env, 'MES_PAGES_API_URL');
  if (pagesApiUrl !== undefined) checkUrl('MES_PAGES_API_URL', pagesApiUrl, ['http:', 'https:']);
  const replicas = read(env, 'DATABASE_REPLICA_URL');
  const replicaUrls = replicas === undefined ? [] : replicas.split(',').map((u) => u.trim());
  for (const url of replicaUrls)
    checkUrl('DATABASE_REPLICA_URL', url, ['postgres:', 'postgresql:']);
  return {
    databaseUrl,
    ...(replicaUrls.length > 0 ? { replicaUrls } : {}),
    ...(amqpUrl !== undefined ? { amqpUrl } : {}),
    host: read(env, 'MES_HOST') ?? DEFAULTS.host,
    port,
    modelDir: read(env, 'MES_MODEL_DIR') ?? join(tmpdir(), 'meskit-reference-mes-models'),
    exchange: read(env, 'MES_EXCHANGE') ?? DEFAULTS.exchange,
    messaging,
    ...(read(env, 'MES_QUEUE') !== undefined ? { queue: read(env, 'MES_QUEUE')! } : {}),
    pricingWork,
    pricing,
    logLevel,
    ...(pagesApiUrl !== undefined ? { pagesApiUrl } : {}),
  };
}

function checkUrl(name: string, value: string, protocols: readonly string[]): void {
  let protocol: string;
  try {
    protocol = new URL(value).protocol;
  } catch {
    throw new ConfigError(`${name} is not a valid URL`);
  }
  if (!protocols.includes(protocol)) {
    throw new ConfigError(`${name} must start with ${protocols.map((p) => `${p}//`).join(' or ')}`);
  }
}
