import { DEFAULTS } from '../defaults.js';
import { CliError } from '../errors.js';
import { redactUrl } from '../internal/redact.js';
import { redisUrlSetting } from '../internal/settings.js';
import type { DoctorConfig } from './types.js';

type UrlSetting =
  'databaseUrl' | 'replicaUrl' | 'redisUrl' | 'amqpUrl' | 'mesUrl' | 'pricingUrl' | 'cacheProxyUrl';
type NumberSetting = 'timeoutMs' | 'maxLagSeconds';

/** Where each doctor setting comes from: its flag and its env var (the flag wins). */
export const DOCTOR_SETTINGS = {
  databaseUrl: { flag: '--database-url', env: 'DATABASE_URL' },
  replicaUrl: { flag: '--replica-url', env: 'DATABASE_REPLICA_URL' },
  redisUrl: { flag: '--redis-url', env: 'REDIS_URL' },
  amqpUrl: { flag: '--amqp-url', env: 'AMQP_URL' },
  mesUrl: { flag: '--mes-url', env: 'MESKIT_MES_URL' },
  pricingUrl: { flag: '--pricing-url', env: 'MESKIT_PRICING_URL' },
  cacheProxyUrl: { flag: '--cache-proxy-url', env: 'MESKIT_CACHE_PROXY_URL' },
  timeoutMs: { flag: '--timeout-ms', env: 'MESKIT_DOCTOR_TIMEOUT_MS' },
  maxLagSeconds: { flag: '--max-lag-seconds', env: 'MESKIT_DOCTOR_MAX_LAG_SECONDS' },
} as const satisfies Record<UrlSetting | NumberSetting, { flag: string; env: string }>;

const URL_PROTOCOLS: Record<UrlSetting, readonly string[]> = {
  databaseUrl: ['postgres:', 'postgresql:'],
  replicaUrl: ['postgres:', 'postgresql:'],
  // and redis+sentinel:// and redis+cluster:// (validateUrl)
  redisUrl: ['redis:', 'rediss:'],
  amqpUrl: ['amqp:', 'amqps:'],
  mesUrl: ['http:', 'https:'],
  pricingUrl: ['http:', 'https:'],
  cacheProxyUrl: ['http:', 'https:'],
};

/** Doctor settings given as flags (or by a program embedding the doctor); all optional. */
export interface DoctorFlags {
  /** Default: env DATABASE_URL, else not configured (the check is skipped). */
  databaseUrl?: string | undefined;
  /** Default: env DATABASE_REPLICA_URL, else not configured. */
  replicaUrl?: string | undefined;
  /** Default: env REDIS_URL, else not configured. */
  redisUrl?: string | undefined;
  /** Default: env AMQP_URL, else not configured. */
  amqpUrl?: string | undefined;
  /** Default: env MESKIT_MES_URL, else not configured. */
  mesUrl?: string | undefined;
  /** Default: env MESKIT_PRICING_URL, else not configured. */
  pricingUrl?: string | undefined;
  /** Default: env MESKIT_CACHE_PROXY_URL, else not configured. */
  cacheProxyUrl?: string | undefined;
  /** Default: env MESKIT_DOCTOR_TIMEOUT_MS, else 3000. */
  timeoutMs?: number | undefined;
  /** Default: env MESKIT_DOCTOR_MAX_LAG_SECONDS, else 10. */
  maxLagSeconds?: number | undefined;
}

/**
 * Resolves flags over env vars over DEFAULTS, validating every value.
 * @throws CliError `CONFIG` naming the flag or env var and what it expects.
 */
export function resolveDoctorConfig(
  flags: DoctorFlags = {},
  env: Readonly<Record<string, string | undefined>> = process.env,
): DoctorConfig {
  const url = (setting: UrlSetting): string | undefined => {
    const fromFlag = flags[setting];
    const source = fromFlag !== undefined ? 'flag' : 'env';
    const raw = (fromFlag ?? env[DOCTOR_SETTINGS[setting].env])?.trim();
    // An empty variable (`DATABASE_URL=`) is how shells unset things: not configured.
    if (!raw) return undefined;
    return validateUrl(setting, raw, source);
  };
  const number = (setting: NumberSetting, fallback: number): number => {
    const fromFlag = flags[setting];
    if (fromFlag !== undefined) return validateNumber(setting, fromFlag, 'flag');
    const raw = env[DOCTOR_SETTINGS[setting].env]?.trim();
    if (!raw) return fallback;
    return validateNumber(setting, Number(raw), 'env', raw);
  };
  return {
    databaseUrl: url('databaseUrl'),
    replicaUrl: url('replicaUrl'),
    redisUrl: url('redisUrl'),
    amqpUrl: url('amqpUrl'),
    mesUrl: url('mesUrl'),
    pricingUrl: url('pricingUrl'),
    cacheProxyUrl: url('cacheProxyUrl'),
    timeoutMs: number('timeoutMs', DEFAULTS.timeoutMs),
    maxLagSeconds: number('maxLagSeconds', DEFAULTS.maxLagSeconds),
    env,
  };
}

function origin(setting: UrlSetting | NumberSetting, source: 'flag' | 'env'): string {
  const { flag, env } = DOCTOR_SETTINGS[setting];
  return source === 'flag' ? flag : `${env} (environment)`;
}

function validateUrl(setting: UrlSetting, raw: string, source: 'flag' | 'env'): string {
  if (setting === 'redisUrl' && /^rediss?\+/i.test(raw)) {
    // Sentinel and Cluster URLs list several hosts: not WHATWG URLs, read by the kernel.
    redisUrlSetting({ raw, origin: origin(setting, source) });
    return raw;
  }
  const protocols = URL_PROTOCOLS[setting];
  const expected = protocols.map((p) => `${p}//`).join(' or ');
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch (err) {
    throw new CliError(
      'CONFIG',
      `invalid ${origin(setting, source)}: "${redactUrl(raw)}" is not a URL; expected one starting with ${expected}`,
      { cause: err },
    );
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new CliError(
      'CONFIG',
      `invalid ${origin(setting, source)}: expected a URL starting with ${expected}, got "${redactUrl(raw)}"`,
    );
  }
  return raw;
}

function validateNumber(
  setting: NumberSetting,
  value: number,
  source: 'flag' | 'env',
  raw: string = String(value),
): number {
  const valid =
    setting === 'timeoutMs'
      ? Number.isSafeInteger(value) && value > 0
      : Number.isFinite(value) && value >= 0;
  if (!valid) {
    const expected =
      setting === 'timeoutMs' ? 'a positive whole number of milliseconds' : 'a number ≥ 0';
    throw new CliError(
      'CONFIG',
      `invalid ${origin(setting, source)}: expected ${expected}, got "${raw}"`,
    );
  }
  return value;
}
