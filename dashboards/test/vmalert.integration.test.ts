// The rule files as VictoriaMetrics' rule engine reads them: `vmalert -dryRun` parses every
// group and expression (MetricsQL), and a vmalert running against the test run's real
// VictoriaMetrics evaluates every rule without an error. vmalert comes in Debian's
// victoria-metrics package, with VictoriaMetrics itself.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureInstalled, locate } from '@meskit/services';
import { waitFor } from '@meskit/testkit';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadRuleFiles, ruleFilePaths } from './artifacts.js';
import { runTool, type ToolResult } from './run-tool.js';

function dryRun(paths: readonly string[]): Promise<ToolResult> {
  return runTool(
    locate('vmalert'),
    ['-dryRun', '-loggerLevel=ERROR', ...paths.map((path) => `-rule=${path}`)],
    { timeoutMs: 60_000 },
  );
}

interface RuleState {
  name: string;
  type: 'alerting' | 'recording';
  lastError: string;
  lastEvaluation: string;
}

describe('vmalert', () => {
  const services = inject('services');
  let scratch = '';

  beforeAll(() => {
    // On a fresh machine this installs the Debian package (as root) or says what to install.
    ensureInstalled(['vmalert']);
    scratch = mkdtempSync(join(tmpdir(), 'meskit-vmalert-'));
  });

  afterAll(() => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('parses every rule file', async () => {
    const result = await dryRun(ruleFilePaths());
    expect(result.output).toBe('');
    expect(result.code).toBe(0);
  });

  it('refuses a rule file with a broken expression (so a passing run means something)', async () => {
    const path = join(scratch, 'broken.rules.yml');
    writeFileSync(
      path,
      'groups:\n  - name: broken\n    rules:\n      - record: job:x:rate5m\n        expr: sum by (job) (rate(x[5m])\n',
    );
    const result = await dryRun([path]);
    expect(result.output).toMatch(/bad prometheus expr|cannot parse|unexpected token/);
    expect(result.code).not.toBe(0);
  });

  describe('on the real VictoriaMetrics', () => {
    let vmalert: ReturnType<typeof spawn> | undefined;
    let notifier: Server | undefined;
    let url = '';
    const stderr: string[] = [];

    beforeAll(async () => {
      expect(services.VICTORIA_METRICS_URL, 'the test run has no VictoriaMetrics').toBeTruthy();
      // vmalert needs somewhere to send firing alerts: an Alertmanager stand-in that takes them.
      notifier = createServer((request, response) => {
        request.resume();
        request.on('end', () => response.writeHead(200).end());
      });
      await new Promise<void>((resolve) => notifier!.listen(0, '127.0.0.1', resolve));
      const notifierPort = (notifier.address() as AddressInfo).port;
      const port = await freePort();
      url = `http://127.0.0.1:${port}`;
      vmalert = spawn(
        locate('vmalert'),
        [
          `-datasource.url=${services.VICTORIA_METRICS_URL}`,
          `-remoteWrite.url=${services.VICTORIA_METRICS_URL}`,
          `-notifier.url=http://127.0.0.1:${notifierPort}`,
          `-httpListenAddr=127.0.0.1:${port}`,
          '-evaluationInterval=1s',
          '-loggerLevel=WARN',
          ...ruleFilePaths().map((path) => `-rule=${path}`),
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      vmalert.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
    });

    afterAll(async () => {
      if (vmalert && vmalert.exitCode === null) {
        const exited = new Promise((resolve) => vmalert!.once('exit', resolve));
        vmalert.kill('SIGTERM');
        await exited;
      }
      await new Promise((resolve) => notifier?.close(resolve));
    });

    it('evaluates every group and rule without an error', { timeout: 60_000 }, async () => {
      const files = loadRuleFiles();
      const expected = files.flatMap((file) =>
        file.groups.flatMap((group) =>
          group.rules.map((rule) => ('record' in rule ? rule.record : rule.alert)),
        ),
      );
      expect(expected.length).toBeGreaterThan(10);
      // Groups are evaluated on their own interval (the files' own, up to a minute): wait until
      // each rule has been evaluated once.
      let rules: RuleState[] = [];
      const evaluated = waitFor(
        `vmalert to have evaluated all ${expected.length} rules`,
        async () => {
          const response = await fetch(`${url}/api/v1/rules`).catch(() => undefined);
          if (!response?.ok) return false;
          const body = (await response.json()) as { data: { groups: { rules: RuleState[] }[] } };
          rules = body.data.groups.flatMap((group) => group.rules);
          return (
            rules.length === expected.length &&
            rules.every((rule) => !rule.lastEvaluation.startsWith('0001-'))
          );
        },
        { timeoutMs: 50_000, intervalMs: 250 },
      );
      await evaluated.catch((err: Error) => {
        throw new Error(`${err.message}; vmalert said: ${stderr.join('').slice(-2000)}`);
      });
      expect(rules.map((rule) => rule.name).sort()).toEqual([...expected].sort());
      expect(
        rules.filter((rule) => rule.lastError !== '').map((r) => `${r.name}: ${r.lastError}`),
      ).toEqual([]);
    });
  });
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
