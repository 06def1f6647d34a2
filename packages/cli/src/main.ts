// The `meskit` binary: runs the CLI on this process's argv and streams, then lets the
// process end on its own. Everything else lives in the library (see program.ts).
import { describeError } from './doctor/describe-error.js';
import { EXIT_CODES } from './exit-codes.js';
import { collectSecrets, redactText } from './internal/redact.js';
import { runCli } from './program.js';

// Every command closes what it opened, so the event loop is empty once the output is
// written and the process exits by itself. Should a handle leak anyway (a bug), exit after
// this grace period instead of hanging a CI job, and say what was left open.
const LINGER_GRACE_MS = 1_000;

function internalError(err: unknown): never {
  const redact = (text: string) => redactText(text, collectSecrets([], process.env));
  process.stderr.write(
    `internal error: ${redact(describeError(err))}\n(this is a bug in meskit or one of its extensions; set MESKIT_DEBUG=1 for a stack trace)\n`,
  );
  if (process.env['MESKIT_DEBUG'] && err instanceof Error && err.stack) {
    process.stderr.write(`${redact(err.stack)}\n`);
  }
  process.exit(EXIT_CODES.internal);
}

// A library failing in the background must not surface as a raw stack trace.
process.on('uncaughtException', internalError);
process.on('unhandledRejection', internalError);

let exitCode: number = EXIT_CODES.ok;

// `meskit doctor | head -1`: the reader went away, which is not an error of ours.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(exitCode);
  internalError(err);
});

exitCode = await runCli(process.argv.slice(2));
process.exitCode = exitCode;

setTimeout(() => {
  // stdio pipes and TTYs are always listed and never the culprit.
  const open = process
    .getActiveResourcesInfo()
    .filter((resource) => resource !== 'PipeWrap' && resource !== 'TTYWrap');
  process.stderr.write(
    `meskit: internal: exiting although ${open.join(', ') || 'handles'} stayed open (a bug: please report it)\n`,
  );
  process.exit(exitCode);
}, LINGER_GRACE_MS).unref();
