// Settings of the sidecar and admin commands: a flag, else the first of its environment
// variables that is set, validated alike so a message names where the bad value came from.
import { RedisUrlError, redisTarget, type RedisTarget } from '@meskit/kernel';
import { CliError } from '../errors.js';
import { redactUrl } from './redact.js';

/** A raw setting and where it came from: `--port` or `MESKIT_CACHE_PORT (environment)`. */
export interface RawSetting {
  readonly raw: string;
  readonly origin: string;
}

/**
 * The flag's value if given, else the first non-empty env var of `envNames` (an empty
 * variable is how shells unset things), else undefined.
 */
export function pickSetting(
  env: Readonly<Record<string, string | undefined>>,
  flag: string,
  flagValue: string | undefined,
  envNames: readonly string[],
): RawSetting | undefined {
  if (flagValue !== undefined) return { raw: flagValue, origin: flag };
  for (const name of envNames) {
    const value = env[name];
    if (value !== undefined && value.trim() !== '')
      return { raw: value.trim(), origin: `${name} (environment)` };
  }
  return undefined;
}

/** A whole number in [min, max], or a `CONFIG` error naming the flag or variable. */
export function wholeNumber(setting: RawSetting, min: number, max: number): number {
  const value = Number(setting.raw);
  if (!/^\d+$/.test(setting.raw) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new CliError(
      'CONFIG',
      `invalid ${setting.origin}: expected a whole number from ${min} to ${max}, got "${setting.raw}"`,
    );
  }
  return value;
}

/** A URL whose protocol is one of `protocols` (`['redis:', 'rediss:']`), else `CONFIG`. */
export function urlSetting(setting: RawSetting, protocols: readonly string[]): URL {
  const expected = protocols.map((p) => `${p}//`).join(' or ');
  let url: URL;
  try {
    url = new URL(setting.raw);
  } catch {
    throw new CliError(
      'CONFIG',
      `invalid ${setting.origin}: "${redactUrl(setting.raw)}" is not a URL; expected one starting with ${expected}`,
    );
  }
  if (!protocols.includes(url.protocol)) {
    throw new CliError(
      'CONFIG',
      `invalid ${setting.origin}: expected a URL starting with ${expected}, got "${redactUrl(setting.raw)}"`,
    );
  }
  return url;
}

/**
 * A Redis URL of any form the components read (redis://, rediss://, redis+sentinel://,
 * redis+cluster://); a CONFIG error naming where it came from and what is wrong.
 */
export function redisUrlSetting(setting: RawSetting): RedisTarget {
  try {
    return redisTarget(setting.raw);
  } catch (error) {
    if (error instanceof RedisUrlError)
      throw new CliError('CONFIG', `invalid ${setting.origin}: ${error.message}`);
    throw error;
  }
}

/** Resolves on the first SIGTERM or SIGINT (and stops listening for them). */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals): void => {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
      resolve(signal);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}
