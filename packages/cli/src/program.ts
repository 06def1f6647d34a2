import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { builtinCommands } from './commands/index.js';
import { defaultCheckRegistry } from './doctor/default-registry.js';
import { describeError } from './doctor/describe-error.js';
import type { CheckRegistry } from './doctor/registry.js';
import { CliError } from './errors.js';
import { EXIT_CODES, EXIT_CODES_HELP, type ExitCode } from './exit-codes.js';
import { collectSecrets, redactText } from './internal/redact.js';
import { useColor } from './internal/tty.js';

/** Where the CLI writes: `process.stdout`/`process.stderr`, or a test's collector. */
export interface OutputStream {
  write(chunk: string): unknown;
  readonly isTTY?: boolean;
}

/** What every command gets besides its parsed options. */
export interface CliContext {
  readonly stdout: OutputStream;
  readonly stderr: OutputStream;
  /** The environment to read settings from (never read `process.env` directly in a command). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The checks `meskit doctor` runs. */
  readonly checks: CheckRegistry;
  readonly version: string;
  /** Sets the code the CLI exits with once the command returns. Default: 0. */
  setExitCode(code: ExitCode): void;
}

/**
 * Adds one command (with its options and subcommands) to the `meskit` program. Use
 * `program.command(name)`; settings such as output streams and exit handling are applied
 * to every command after all registrars ran, so `addCommand(new Command(...))` works too.
 */
export type RegisterCommand = (program: Command, ctx: CliContext) => void;

export interface RunCliOptions {
  /** Default: process.stdout. */
  stdout?: OutputStream;
  /** Default: process.stderr. */
  stderr?: OutputStream;
  /** Default: process.env. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Checks for `meskit doctor`. Default: `defaultCheckRegistry()` (built-ins + `registerCheck`). */
  checks?: CheckRegistry;
  /** Commands of the program. Default: `builtinCommands()`. */
  commands?: readonly RegisterCommand[];
}

/** The version in this package's package.json (read on call, never at import). */
export function cliVersion(): string {
  // Same relative path from src/ (tests) and dist/ (the binary).
  const manifest: unknown = JSON.parse(
    readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
  );
  const version = (manifest as { version?: unknown }).version;
  return typeof version === 'string' ? version : '0.0.0';
}

/**
 * Builds the `meskit` commander program. Every command gets `--help` with the exit-code
 * table, throws instead of calling `process.exit` (so `runCli` decides the exit code), and
 * writes to the context's streams.
 */
export function createProgram(
  ctx: CliContext,
  commands: readonly RegisterCommand[] = builtinCommands(),
): Command {
  const program = new Command('meskit')
    .description(
      'The meskit command line: diagnostics and tools for running meskit beside the MES.',
    )
    .version(ctx.version, '-V, --version', 'print the meskit version')
    .addHelpText('afterAll', `\n${EXIT_CODES_HELP}\n`);
  for (const register of commands) register(program, ctx);
  configureTree(program, ctx);
  return program;
}

function configureTree(command: Command, ctx: CliContext): void {
  command
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({
      writeOut: (text) => void ctx.stdout.write(text),
      writeErr: (text) => void ctx.stderr.write(text),
      getOutHasColors: () => useColor(ctx.stdout, ctx.env),
      getErrHasColors: () => useColor(ctx.stderr, ctx.env),
    });
  for (const sub of command.commands) configureTree(sub, ctx);
}

/**
 * Runs `meskit` with `argv` (the arguments after the program name) and resolves to the
 * exit code; never rejects and never calls `process.exit`. 0 ok, 1 a check or operation
 * failed, 2 usage or configuration error, 70 internal error.
 */
export async function runCli(
  argv: readonly string[],
  options: RunCliOptions = {},
): Promise<ExitCode> {
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  const env = options.env ?? process.env;
  let exitCode: ExitCode = EXIT_CODES.ok;
  const redact = (text: string) => redactText(text, collectSecrets([], env));
  try {
    const ctx: CliContext = {
      stdout,
      stderr,
      env,
      checks: options.checks ?? defaultCheckRegistry(),
      version: cliVersion(),
      setExitCode: (code) => {
        exitCode = code;
      },
    };
    const program = createProgram(ctx, options.commands);
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) return commanderExitCode(err);
    // Bad input (2) and an operation that failed for a reason outside meskit, such as a port
    // already taken (1), are the user's to fix: the message, no "internal error" banner.
    if (err instanceof CliError && err.exitCode !== EXIT_CODES.internal) {
      stderr.write(`error: ${redact(err.message)}\n`);
      return err.exitCode;
    }
    stderr.write(
      `internal error: ${redact(describeError(err))}\n(this is a bug in meskit or one of its extensions; set MESKIT_DEBUG=1 for a stack trace)\n`,
    );
    if (env['MESKIT_DEBUG'] && err instanceof Error && err.stack)
      stderr.write(`${redact(err.stack)}\n`);
    return EXIT_CODES.internal;
  }
}

/** Commander has already printed its message; only the exit code is left to decide. */
function commanderExitCode(err: CommanderError): ExitCode {
  switch (err.code) {
    case 'commander.helpDisplayed':
    case 'commander.version':
      return EXIT_CODES.ok;
    case 'commander.help':
      // `meskit help` asked for help (0); bare `meskit` got help because a command is missing.
      return err.exitCode === 0 ? EXIT_CODES.ok : EXIT_CODES.usage;
    default:
      return EXIT_CODES.usage;
  }
}
