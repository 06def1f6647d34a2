// Checks for factory options, shared so that every package refuses a bad option the same way:
// synchronously, with an InvalidOptionError naming the component, the option and what it takes.
import { InvalidOptionError } from './errors.js';

/** The checks of one factory; `component` prefixes every message (`createCacheProxy: ...`). */
export interface OptionChecks {
  /** An error for `option` with `problem` (completing "option <name> ..."), to throw. */
  invalid(option: string, problem: string, cause?: unknown): InvalidOptionError;
  /** `value` if it is an integer in [min, max], else throws. */
  integer(option: string, value: unknown, min: number, max: number): number;
  /** `value` if it is a finite number in [min, max], else throws. */
  number(option: string, value: unknown, min: number, max: number): number;
  /** `value` if it is a non-empty string, else throws. */
  text(option: string, value: unknown): string;
  /** `value` if it is a non-empty string or undefined, else throws. */
  optionalText(option: string, value: unknown): string | undefined;
  /** `value` if it is a boolean, else throws. */
  boolean(option: string, value: unknown): boolean;
  /** `value` if it is one of `allowed`, else throws listing them. */
  oneOf<T extends string>(option: string, value: unknown, allowed: readonly T[]): T;
  /** `value` if it is a plain object (not null, not an array), else throws. */
  object(option: string, value: unknown, example: string): Record<string, unknown>;
}

const show = (value: unknown): string =>
  typeof value === 'string' ? JSON.stringify(value) : String(value);

export function optionChecks(component: string): OptionChecks {
  const invalid = (option: string, problem: string, cause?: unknown): InvalidOptionError =>
    new InvalidOptionError({ component, option, problem, cause });
  return {
    invalid,
    integer(option, value, min, max) {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
        throw invalid(option, `must be an integer from ${min} to ${max}, got ${show(value)}`);
      return value;
    },
    number(option, value, min, max) {
      if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max)
        throw invalid(option, `must be a number from ${min} to ${max}, got ${show(value)}`);
      return value;
    },
    text(option, value) {
      if (typeof value !== 'string' || value.length === 0)
        throw invalid(option, `must be a non-empty string, got ${show(value)}`);
      return value;
    },
    optionalText(option, value) {
      if (value === undefined) return undefined;
      if (typeof value !== 'string' || value.length === 0)
        throw invalid(option, `must be a non-empty string when given, got ${show(value)}`);
      return value;
    },
    boolean(option, value) {
      if (typeof value !== 'boolean')
        throw invalid(option, `must be a boolean (true or false), got ${show(value)}`);
      return value;
    },
    oneOf(option, value, allowed) {
      if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value))
        throw invalid(option, `must be one of ${allowed.join(', ')}, got ${show(value)}`);
      return value as (typeof allowed)[number];
    },
    object(option, value, example) {
      if (typeof value !== 'object' || value === null || Array.isArray(value))
        throw invalid(option, `must be an object like ${example}, got ${show(value)}`);
      return value as Record<string, unknown>;
    },
  };
}
