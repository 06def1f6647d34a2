// What the kernel's optionChecks() does not cover and several factories of this package need.
import type { OptionChecks } from '@meskit/kernel';

/** The longest delay Node's timers honour; a longer one fires at once. */
export const MAX_TIMER_MS = 2_147_483_647;

/** A value as an option error shows it: strings quoted, everything else as `String()` does. */
export function show(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/** `value` if it is a finite number above 0 (a limit, not necessarily whole), else throws. */
export function positiveNumber(check: OptionChecks, option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0)
    throw check.invalid(option, `must be a number above 0, got ${show(value)}`);
  return value;
}
