import { MeskitError } from '@meskit/kernel';
import { EXIT_CODES, type ExitCode } from './exit-codes.js';

/**
 * Stable codes for the errors this package throws:
 * - `USAGE`: a flag or argument is wrong (exit 2).
 * - `CONFIG`: a setting from a flag or env var is invalid (exit 2).
 * - `INVALID_CHECK`: a `DoctorCheck` passed to a registry is malformed (programmer error).
 * - `DUPLICATE_CHECK`: two checks share an id (programmer error).
 * - `LISTEN_FAILED`: a sidecar cannot listen on its address (port taken, no permission; exit 1).
 */
export type CliErrorCode =
  'USAGE' | 'CONFIG' | 'INVALID_CHECK' | 'DUPLICATE_CHECK' | 'LISTEN_FAILED';

/** An error with a stable `code` and the exit code the CLI ends with when it escapes a command. */
export class CliError extends MeskitError<CliErrorCode> {
  readonly exitCode: ExitCode;

  constructor(code: CliErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    // Bad input from the user is a usage problem; a malformed check is a bug in the
    // code that registered it, which the user cannot fix with a flag.
    this.exitCode =
      code === 'USAGE' || code === 'CONFIG'
        ? EXIT_CODES.usage
        : code === 'LISTEN_FAILED'
          ? EXIT_CODES.failed
          : EXIT_CODES.internal;
  }
}
