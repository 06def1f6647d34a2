/**
 * Exit codes of every `meskit` command. 70 is EX_SOFTWARE from sysexits.h, so scripts can
 * tell a bug in meskit from a failed check.
 */
export const EXIT_CODES = {
  /** The command did what was asked; for `doctor`: no check failed (warnings and skips allowed). */
  ok: 0,
  /** A check or operation failed. */
  failed: 1,
  /** Usage or configuration error: unknown option, bad value, missing command. */
  usage: 2,
  /** Internal error: a bug in meskit or in a registered extension. */
  internal: 70,
} as const;

export type ExitCode = (typeof EXIT_CODES)[keyof typeof EXIT_CODES];

/** The exit-code table printed under every command's `--help` and in the README. */
export const EXIT_CODES_HELP = `Exit codes:
  0   ok (for doctor: no check failed; warnings and skips do not fail)
  1   a check or operation failed
  2   usage or configuration error (unknown option, invalid value or URL)
  70  internal error (a bug in meskit or in an extension; please report it)`;
