// The rule files as Prometheus itself reads them: `promtool check rules` (syntax, PromQL,
// templates) and `promtool test rules` (the alerts fire, and stay quiet, when they should).
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { ensureInstalled, locate } from '@meskit/services';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoPath, ruleFilePaths, ruleTestFilePaths } from './artifacts.js';
import { runTool, type ToolResult } from './run-tool.js';

function promtool(args: string[], cwd?: string): Promise<ToolResult> {
  return runTool(locate('promtool'), args, { ...(cwd ? { cwd } : {}), timeoutMs: 120_000 });
}

describe('promtool', () => {
  let scratch = '';

  beforeAll(() => {
    // On a fresh machine this installs the Debian package (as root) or says what to install.
    ensureInstalled(['promtool']);
    scratch = mkdtempSync(join(tmpdir(), 'meskit-promtool-'));
  });

  afterAll(() => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it.each(ruleFilePaths().map((p) => [repoPath(p), p]))('check rules %s', async (_, path) => {
    const result = await promtool(['check', 'rules', path]);
    expect(result.output).toMatch(/SUCCESS/);
    expect(result.code).toBe(0);
  });

  // Concurrent: each file replays hours of samples (about 10 s of CPU for the slow-burn cases,
  // more on a busy machine), and they are independent.
  it.concurrent.each(ruleTestFilePaths().map((p) => [repoPath(p), p]))(
    'test rules %s',
    { timeout: 180_000 },
    async (_, path) => {
      const result = await promtool(['test', 'rules', path]);
      expect(result.output, result.output).toMatch(/SUCCESS/);
      expect(result.code).toBe(0);
    },
  );

  it('fails a rule test whose expectation is wrong (so a passing run means something)', async () => {
    // The same rule files, and one real test file (a quick one) expecting a different summary.
    const rulesDir = join(scratch, 'rules');
    const testsDir = join(scratch, 'tests');
    mkdirSync(rulesDir, { recursive: true });
    mkdirSync(testsDir, { recursive: true });
    for (const path of ruleFilePaths()) copyFileSync(path, join(rulesDir, basename(path)));
    const original = ruleTestFilePaths().find((p) =>
      p.endsWith('scrape-target-down.test.yml'),
    ) as string;
    const broken = readFileSync(original, 'utf8').replace(
      'its SLO alerts are blind',
      'its SLO alerts see',
    );
    expect(broken).not.toBe(readFileSync(original, 'utf8'));
    writeFileSync(join(testsDir, 'broken.test.yml'), broken);
    const result = await promtool(['test', 'rules', join(testsDir, 'broken.test.yml')]);
    expect(result.output).toMatch(/FAILED/);
    expect(result.code).not.toBe(0);
  });

  it('fails check rules on a broken expression', async () => {
    const path = join(scratch, 'broken.rules.yml');
    writeFileSync(
      path,
      'groups:\n  - name: broken\n    rules:\n      - record: job:x:rate5m\n        expr: sum by (job) (rate(x[5m])\n',
    );
    const result = await promtool(['check', 'rules', path]);
    expect(result.code).not.toBe(0);
  });
});
