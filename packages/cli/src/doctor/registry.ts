import { performance } from 'node:perf_hooks';
import { CliError } from '../errors.js';
import { collectSecrets, redactDeep, redactText } from '../internal/redact.js';
import { describeError, oneLine } from './describe-error.js';
import type {
  CheckOutcome,
  CheckResult,
  CheckStatus,
  DoctorCheck,
  DoctorConfig,
  DoctorReport,
} from './types.js';

const CHECK_ID = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
const STATUSES: ReadonlySet<string> = new Set<CheckStatus>(['pass', 'warn', 'fail', 'skip']);

/** An ordered set of doctor checks; results are reported in registration order. */
export class CheckRegistry {
  readonly #checks = new Map<string, DoctorCheck>();

  constructor(checks: Iterable<DoctorCheck> = []) {
    for (const check of checks) this.register(check);
  }

  /**
   * Adds a check after those already registered.
   * @throws CliError `INVALID_CHECK` for a malformed check, `DUPLICATE_CHECK` for a reused id.
   */
  register(check: DoctorCheck): this {
    // Checks come from other packages' JavaScript too, so the interface is not proof enough.
    const candidate = check as Partial<DoctorCheck> | null | undefined;
    if (typeof candidate?.id !== 'string' || !CHECK_ID.test(candidate.id)) {
      throw new CliError(
        'INVALID_CHECK',
        `doctor check id ${JSON.stringify(candidate?.id)} is invalid: use lower-case words joined by ".", "-" or "_" (e.g. "postgres.replica")`,
      );
    }
    if (typeof candidate.title !== 'string' || candidate.title.trim() === '') {
      throw new CliError('INVALID_CHECK', `doctor check "${candidate.id}" needs a non-empty title`);
    }
    if (typeof candidate.run !== 'function') {
      throw new CliError('INVALID_CHECK', `doctor check "${candidate.id}" needs a run(ctx) method`);
    }
    if (this.#checks.has(check.id)) {
      throw new CliError(
        'DUPLICATE_CHECK',
        `a doctor check with id "${check.id}" is already registered: give the new check another id`,
      );
    }
    this.#checks.set(check.id, check);
    return this;
  }

  has(id: string): boolean {
    return this.#checks.has(id);
  }

  /** All checks, in registration order. */
  list(): DoctorCheck[] {
    return [...this.#checks.values()];
  }

  /**
   * The checks selected by `--only`: each entry is an id or an id prefix ending at a dot
   * (`postgres` selects `postgres.primary` and `postgres.replica`). Order stays the
   * registration order. Undefined selects everything.
   * @throws CliError `USAGE` when an entry matches no check, listing the known ids.
   */
  select(only?: readonly string[]): DoctorCheck[] {
    if (only === undefined) return this.list();
    const wanted = only.map((entry) => entry.trim()).filter((entry) => entry !== '');
    if (wanted.length === 0) {
      throw new CliError('USAGE', '--only needs at least one check id, e.g. --only postgres,redis');
    }
    const matches = (id: string, entry: string) => id === entry || id.startsWith(`${entry}.`);
    const ids = [...this.#checks.keys()];
    for (const entry of wanted) {
      if (!ids.some((id) => matches(id, entry))) {
        throw new CliError(
          'USAGE',
          `no doctor check matches "${entry}" in --only; known checks: ${ids.join(', ')}`,
        );
      }
    }
    return this.list().filter((check) => wanted.some((entry) => matches(check.id, entry)));
  }

  /** Runs the checks selected by `only` (all by default); see `runChecks`. */
  run(config: DoctorConfig, only?: readonly string[]): Promise<DoctorReport> {
    return runChecks(this.select(only), config);
  }
}

/**
 * Runs checks concurrently, each under its own time limit (`config.timeoutMs`). A check
 * that throws or returns something malformed becomes `fail`; one that outlives its limit
 * becomes `fail` and its signal is aborted so it can close what it opened. Messages and
 * details are redacted (passwords in URLs, configured secrets) and messages put on one line.
 * Never rejects.
 */
export async function runChecks(
  checks: readonly DoctorCheck[],
  config: DoctorConfig,
): Promise<DoctorReport> {
  const secrets = collectSecrets(
    [
      config.databaseUrl,
      config.replicaUrl,
      config.redisUrl,
      config.amqpUrl,
      config.mesUrl,
      config.pricingUrl,
    ],
    config.env,
  );
  const results = await Promise.all(checks.map((check) => runOne(check, config, secrets)));
  return { ok: results.every((result) => result.status !== 'fail'), checks: results };
}

async function runOne(
  check: DoctorCheck,
  config: DoctorConfig,
  secrets: readonly string[],
): Promise<CheckResult> {
  const timeoutMs = config.timeoutMs;
  const controller = new AbortController();
  const started = performance.now();
  let doing: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  // Deliberately not unref'd: a check awaiting something that holds no handle would
  // otherwise let the event loop drain and the process exit without a report.
  const deadline = new Promise<CheckOutcome>((resolve) => {
    timer = setTimeout(() => {
      // Settle first, then abort: the timeout must win the race against whatever
      // rejection the check produces in reaction to the abort.
      const where = doing ? ` while ${doing}` : '';
      resolve({
        status: 'fail',
        message: `timed out after ${timeoutMs} ms${where} (raise --timeout-ms if it is just slow)`,
      });
      controller.abort(new DOMException(`timed out after ${timeoutMs} ms`, 'TimeoutError'));
    }, timeoutMs);
  });

  let outcome: CheckOutcome;
  try {
    // `then` turns a synchronous throw inside run() into a rejection handled below.
    const work = Promise.resolve().then(() =>
      check.run({
        config,
        signal: controller.signal,
        timeoutMs,
        step: (what) => {
          doing = what;
        },
      }),
    );
    // The check may settle after the deadline won; nobody awaits it then.
    work.catch(() => {});
    const settled: unknown = await Promise.race([work, deadline]);
    outcome = isOutcome(settled)
      ? settled
      : {
          status: 'fail',
          message:
            'internal: the check returned no valid outcome ({ status: pass|warn|fail|skip, message })',
        };
  } catch (err) {
    outcome = { status: 'fail', message: describeError(err) };
  } finally {
    clearTimeout(timer);
    // Whatever the check left running (a connection still being set up, a second probe)
    // is told to stop, so no handle outlives the report.
    if (!controller.signal.aborted)
      controller.abort(new DOMException('check finished', 'AbortError'));
  }

  const message = oneLine(redactText(outcome.message, secrets)) || '(no message)';
  const details = isPlainRecord(outcome.details)
    ? (redactDeep(outcome.details, secrets) as Record<string, unknown>)
    : undefined;
  return {
    id: check.id,
    title: check.title,
    status: outcome.status,
    message,
    durationMs: Math.round(performance.now() - started),
    ...(details ? { details } : {}),
  };
}

function isOutcome(value: unknown): value is CheckOutcome {
  if (value === null || typeof value !== 'object') return false;
  const { status, message } = value as { status?: unknown; message?: unknown };
  return typeof status === 'string' && STATUSES.has(status) && typeof message === 'string';
}

function isPlainRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
