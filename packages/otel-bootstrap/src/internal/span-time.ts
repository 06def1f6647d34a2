// OpenTelemetry's TimeInput as the epoch milliseconds of the lean tracer's records.
import { performance } from 'node:perf_hooks';
import type { TimeInput } from '@opentelemetry/api';

const TIME_ORIGIN = performance.timeOrigin;

/** A TimeInput as epoch milliseconds, like the SDK reads it (numbers below now are performance.now() values). */
export function toEpochMs(input: TimeInput | undefined): number {
  const now = performance.now();
  if (input === undefined) return TIME_ORIGIN + now;
  if (typeof input === 'number') return input <= now ? TIME_ORIGIN + input : input;
  if (input instanceof Date) return input.getTime();
  return input[0] * 1e3 + input[1] / 1e6;
}

export function isTimeInput(value: unknown): value is TimeInput {
  return (
    typeof value === 'number' ||
    value instanceof Date ||
    (Array.isArray(value) &&
      value.length === 2 &&
      typeof value[0] === 'number' &&
      typeof value[1] === 'number')
  );
}
