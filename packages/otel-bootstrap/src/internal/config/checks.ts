// Checks of startTelemetry()'s options. An option given in code with the wrong type or an
// impossible value is a programmer error: it throws the kernel's InvalidOptionError
// (INVALID_OPTION) synchronously, before anything starts, naming the option and what it takes.
import { optionChecks, type InvalidOptionError } from '@meskit/kernel';
import type { TelemetryOptions } from '../../options.js';

const check = optionChecks('startTelemetry');

/**
 * The error for `option`, to throw: `startTelemetry: option <option> must be <expected>, got
 * <got>`. `got` is shown as JSON where it can be; pass a placeholder for a value that may be
 * a secret.
 */
export function invalid(option: string, expected: string, got: unknown): InvalidOptionError {
  let shown: string;
  try {
    shown =
      typeof got === 'string'
        ? JSON.stringify(got)
        : typeof got === 'function'
          ? 'a function'
          : String(JSON.stringify(got) ?? got);
  } catch {
    shown = Object.prototype.toString.call(got);
  }
  return check.invalid(option, `must be ${expected}, got ${shown}`);
}

export function optionalString(
  options: TelemetryOptions,
  key: keyof TelemetryOptions,
): string | undefined {
  const value: unknown = options[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.trim() === '')
    throw invalid(key, 'a non-empty string', value);
  return value;
}

export function optionalBoolean(
  options: TelemetryOptions,
  key: keyof TelemetryOptions,
): boolean | undefined {
  const value: unknown = options[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw invalid(key, 'true or false', value);
  return value;
}

export function optionalInteger(
  options: TelemetryOptions,
  key: keyof TelemetryOptions,
  min: number,
): number | undefined {
  const value: unknown = options[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw invalid(key, `a whole number ≥ ${min}`, value);
  }
  return value;
}

/** A copy of an object of strings (headers); the values are never shown, they may be secrets. */
export function stringRecord(value: unknown, option: string): Record<string, string> {
  if (!isPlainRecord(value) || !Object.values(value).every((v) => typeof v === 'string')) {
    throw invalid(option, 'an object of string values', '(not shown: may hold secrets)');
  }
  return { ...(value as Record<string, string>) };
}

export function isPlainRecord(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** An http: or https: URL with a host (options and env vars alike). */
export function isHttpUrl(raw: string): boolean {
  try {
    const url = new URL(raw);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
}
