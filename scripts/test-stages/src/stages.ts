// The stages of `npm test`, run one after the other as child processes: each one's output is
// passed through as it comes and scanned for its closing count line (`<word>: N passed, N
// failed[, N skipped]`), which the vitest summary reporter and the API runner both print. The
// first stage that fails (exit code not 0, or failures counted) stops the run: a later stage
// would only test on top of a broken layer.
import { spawn } from 'node:child_process';

export interface Stage {
  /** `unit`, `integration`, `e2e`, `api`. */
  readonly name: string;
  /** What it covers, for the summary. */
  readonly what: string;
  readonly command: string;
  readonly args: readonly string[];
  /** Added to the environment the stage runs with. */
  readonly env?: Readonly<Record<string, string>>;
}

export interface Counts {
  passed: number;
  failed: number;
  skipped: number;
}

export interface StageResult {
  readonly stage: Stage;
  readonly exitCode: number;
  /** The stage's own closing count line; undefined when it printed none (it crashed). */
  readonly counts: Counts | undefined;
  readonly seconds: number;
}

const COUNT_LINE = /^[a-z][\w-]*: (\d+) passed, (\d+) failed(?:, (\d+) skipped)?\s*$/;

/** The counts of one closing line, e.g. `tests: 12 passed, 0 failed, 1 skipped`. */
export function parseCountLine(line: string): Counts | undefined {
  // eslint-disable-next-line no-control-regex
  const match = COUNT_LINE.exec(line.replace(/\u001b\[[0-9;]*m/g, ''));
  if (!match) return undefined;
  return { passed: Number(match[1]), failed: Number(match[2]), skipped: Number(match[3] ?? 0) };
}

export function stageFailed(result: StageResult): boolean {
  return result.exitCode !== 0 || result.counts === undefined || result.counts.failed > 0;
}

export interface RunStagesOptions {
  stages: readonly Stage[];
  env: NodeJS.ProcessEnv;
  /** Where the stages' output and the runner's own lines go. */
  out: (text: string) => void;
}

/** Runs `stages` in order, stopping after the first that fails. */
export async function runStages(opts: RunStagesOptions): Promise<StageResult[]> {
  const results: StageResult[] = [];
  for (const [i, stage] of opts.stages.entries()) {
    opts.out(`\n== stage ${i + 1}/${opts.stages.length}: ${stage.name} (${stage.what})\n`);
    const result = await runStage(stage, opts);
    results.push(result);
    if (stageFailed(result)) break;
  }
  return results;
}

function runStage(stage: Stage, opts: RunStagesOptions): Promise<StageResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(stage.command, stage.args, {
      env: { ...opts.env, ...stage.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let counts: Counts | undefined;
    let partial = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      opts.out(chunk);
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) counts = parseCountLine(line) ?? counts;
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => process.stderr.write(chunk));
    const finish = (exitCode: number): void => {
      counts = parseCountLine(partial) ?? counts;
      resolve({ stage, exitCode, counts, seconds: (performance.now() - started) / 1000 });
    };
    child.once('error', (error) => {
      opts.out(`could not start stage ${stage.name}: ${error.message}\n`);
      finish(127);
    });
    child.once('close', (code, signal) => finish(code ?? (signal ? 128 : 1)));
  });
}

/** The summary table and the run's own closing line: the stages' counts added up. */
export function summarize(results: readonly StageResult[], planned: readonly Stage[]): string {
  const lines = ['', 'stage        result   passed  failed  skipped  seconds'];
  const total: Counts = { passed: 0, failed: 0, skipped: 0 };
  for (const stage of planned) {
    const result = results.find((r) => r.stage === stage);
    if (!result) {
      lines.push(`${stage.name.padEnd(12)} not run`);
      continue;
    }
    const c = result.counts;
    const verdict = stageFailed(result) ? 'FAILED' : 'ok';
    lines.push(
      `${stage.name.padEnd(12)} ${verdict.padEnd(8)} ${String(c?.passed ?? '-').padStart(6)}  ${String(c?.failed ?? '-').padStart(6)}  ${String(c?.skipped ?? '-').padStart(7)}  ${result.seconds.toFixed(0).padStart(7)}`,
    );
    if (c) {
      total.passed += c.passed;
      total.failed += c.failed;
      total.skipped += c.skipped;
    }
    // A stage that failed without counting a failure (it crashed, or exited non-zero) counts one.
    if (stageFailed(result) && (c?.failed ?? 0) === 0) total.failed += 1;
  }
  const failedStage = results.find(stageFailed);
  if (failedStage) {
    const why =
      failedStage.counts === undefined
        ? `exited ${failedStage.exitCode} without a count line`
        : failedStage.counts.failed > 0
          ? `${failedStage.counts.failed} failed`
          : `exited ${failedStage.exitCode}`;
    lines.push(`stage ${failedStage.stage.name} failed (${why}); the stages after it did not run`);
  }
  lines.push(`tests: ${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
  return `${lines.join('\n')}\n`;
}
