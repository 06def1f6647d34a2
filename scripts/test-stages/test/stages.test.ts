// The stage runner of `npm test`: stages run in order, the first failing one stops the run,
// and the closing line adds up what each stage counted. The stages here are tiny node scripts.
import { describe, expect, it } from 'vitest';
import { parseCountLine, runStages, summarize, type Stage } from '../dist/stages.js';

function stage(name: string, script: string): Stage {
  return { name, what: name, command: process.execPath, args: ['-e', script] };
}

const passing = (name: string, passed: number) =>
  stage(
    name,
    `console.log('${name} output'); console.log('tests: ${passed} passed, 0 failed, 1 skipped')`,
  );

async function run(stages: Stage[]) {
  let out = '';
  const results = await runStages({ stages, env: process.env, out: (text) => (out += text) });
  return { results, out, summary: summarize(results, stages) };
}

describe('the test stages', () => {
  it('reads the closing count lines of vitest and of the API runner', () => {
    expect(parseCountLine('tests: 12 passed, 3 failed, 4 skipped')).toEqual({
      passed: 12,
      failed: 3,
      skipped: 4,
    });
    expect(parseCountLine('api: 382 passed, 0 failed')).toEqual({
      passed: 382,
      failed: 0,
      skipped: 0,
    });
    expect(parseCountLine('\u001b[32mtests: 1 passed, 0 failed\u001b[39m')).toEqual({
      passed: 1,
      failed: 0,
      skipped: 0,
    });
    expect(parseCountLine('  ✓ 3 passed, 0 failed in a test name')).toBeUndefined();
  });

  it('runs every stage in order and adds their counts up', async () => {
    const { results, out, summary } = await run([passing('unit', 5), passing('api', 7)]);
    expect(results.map((r) => r.stage.name)).toEqual(['unit', 'api']);
    expect(out.indexOf('unit output')).toBeLessThan(out.indexOf('api output'));
    expect(summary.trimEnd().split('\n').at(-1)).toBe('tests: 12 passed, 0 failed, 2 skipped');
  });

  it('stops at the first stage that fails, by its exit code or by its count', async () => {
    const failing = stage(
      'integration',
      `console.log('tests: 3 passed, 1 failed'); process.exit(1)`,
    );
    const { results, out, summary } = await run([passing('unit', 2), failing, passing('e2e', 4)]);
    expect(results.map((r) => r.stage.name)).toEqual(['unit', 'integration']);
    expect(out).not.toContain('e2e output');
    expect(summary).toMatch(/^e2e +not run$/m);
    expect(summary).toContain('stage integration failed (1 failed)');
    expect(summary.trimEnd().split('\n').at(-1)).toBe('tests: 5 passed, 1 failed, 1 skipped');

    // Failures counted with exit code 0 stop the run too.
    const counted = stage('unit', `console.log('tests: 1 passed, 2 failed')`);
    expect((await run([counted, passing('api', 1)])).results).toHaveLength(1);
  });

  it('counts a stage that crashed without a count line as one failure', async () => {
    const crashed = stage('e2e', `throw new Error('no browser')`);
    const { results, summary } = await run([crashed, passing('api', 1)]);
    expect(results).toHaveLength(1);
    expect(results[0]!.exitCode).not.toBe(0);
    expect(summary).toContain('stage e2e failed (exited 1 without a count line)');
    expect(summary.trimEnd().split('\n').at(-1)).toBe('tests: 0 passed, 1 failed, 0 skipped');
  });
});
