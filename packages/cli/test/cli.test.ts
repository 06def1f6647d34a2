// The CLI in-process (runCli with collected output): parsing, exit codes, help, extension
// points. The real binary is exercised in doctor.integration.test.ts.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import {
  CheckRegistry,
  builtinCommands,
  defaultCheckRegistry,
  registerCheck,
  runCli,
} from '../src/index.js';
import type { DoctorCheck, DoctorReport, RegisterCommand } from '../src/index.js';
import { Collector, STACK_TRACE } from './helpers.js';

async function cli(
  argv: string[],
  options: {
    env?: Record<string, string>;
    checks?: CheckRegistry;
    commands?: RegisterCommand[];
  } = {},
) {
  const stdout = new Collector();
  const stderr = new Collector();
  const code = await runCli(argv, { stdout, stderr, env: options.env ?? {}, ...options });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

const fixed = (id: string, status: 'pass' | 'warn' | 'fail' | 'skip'): DoctorCheck => ({
  id,
  title: `Fixed ${status}`,
  run: async () => ({ status, message: `${id} is ${status}` }),
});

describe('meskit (in-process)', () => {
  it('prints the package version for --version', async () => {
    const { version } = JSON.parse(
      readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
    ) as { version: string };
    expect(await cli(['--version'])).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
  });

  it('documents commands and exit codes in --help', async () => {
    const root = await cli(['--help']);
    expect(root.code).toBe(0);
    expect(root.stdout).toContain('doctor');
    expect(root.stdout).toMatch(/Exit codes:\n\s+0\s.*\n\s+1\s.*\n\s+2\s.*\n\s+70\s/);

    const doctor = await cli(['doctor', '--help']);
    expect(doctor.code).toBe(0);
    for (const flag of ['--json', '--timeout-ms', '--max-lag-seconds', '--only', '--mes-url']) {
      expect(doctor.stdout).toContain(flag);
    }
    expect(doctor.stdout).toContain('postgres.replica');
    expect(doctor.stdout).toContain('Exit codes:');
    expect((await cli(['help', 'doctor'])).code).toBe(0);
  });

  it('exits 2 with commander’s message for an unknown option, command or missing command', async () => {
    const unknownOption = await cli(['doctor', '--bogus']);
    expect(unknownOption.code).toBe(2);
    expect(unknownOption.stderr).toContain("error: unknown option '--bogus'");
    expect(unknownOption.stdout).toBe('');

    const unknownCommand = await cli(['docter']);
    expect(unknownCommand.code).toBe(2);
    expect(unknownCommand.stderr).toContain("unknown command 'docter'");
    expect(unknownCommand.stderr).toContain('doctor'); // commander's "Did you mean" suggestion

    const bare = await cli([]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain('Usage: meskit');

    const badNumber = await cli(['doctor', '--timeout-ms', '-5']);
    expect(badNumber.code).toBe(2);
  });

  it('exits 2 on invalid configuration before running any check', async () => {
    let ran = false;
    const checks = new CheckRegistry([
      { id: 'spy', title: 'Spy', run: async () => ((ran = true), { status: 'pass', message: '' }) },
    ]);
    const result = await cli(['doctor'], {
      env: { DATABASE_URL: 'mysql://root:hunter22@db/x' },
      checks,
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'error: invalid DATABASE_URL (environment): expected a URL starting with postgres:// or postgresql://, got "mysql://root:***@db/x"\n',
    );
    expect(ran).toBe(false);
  });

  it('skips unconfigured dependencies, naming the flag and the env var', async () => {
    const result = await cli(['doctor', '--json']);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as DoctorReport;
    expect(report.ok).toBe(true);
    expect(report.checks.map((c) => [c.id, c.status])).toEqual([
      ['postgres.primary', 'skip'],
      ['postgres.replica', 'skip'],
      ['db-router', 'skip'],
      ['redis', 'skip'],
      ['rabbitmq', 'skip'],
      ['mq', 'skip'],
      ['mes', 'skip'],
      ['otel.collector', 'skip'],
      ['otel.metrics', 'skip'],
      ['loki', 'skip'],
      ['pricing', 'skip'],
      ['cache-proxy', 'skip'],
    ]);
    expect(report.checks[1]?.message).toBe(
      'not configured: pass --replica-url or set DATABASE_REPLICA_URL',
    );
  });

  it('exits 1 when a check fails, 0 when the worst is a warning', async () => {
    const checks = new CheckRegistry([fixed('a', 'pass'), fixed('b', 'warn'), fixed('c', 'fail')]);
    const failing = await cli(['doctor'], { checks });
    expect(failing.code).toBe(1);
    expect(failing.stdout).toContain('FAIL    c');
    expect(failing.stdout).toContain('FAILED: 1 passed, 1 warned, 1 failed, 0 skipped');
    expect((await cli(['doctor', '--only', 'a,b'], { checks })).code).toBe(0);
    expect((await cli(['doctor', '--only', 'a', '--only', 'c'], { checks })).code).toBe(1);
  });

  it('--list prints the selected checks without running them', async () => {
    let ran = false;
    const checks = new CheckRegistry([
      fixed('db.one', 'pass'),
      {
        id: 'db.two',
        title: 'Two',
        run: async () => ((ran = true), { status: 'pass', message: '' }),
      },
      fixed('queue', 'pass'),
    ]);
    const text = await cli(['doctor', '--list', '--only', 'db'], { checks });
    expect(text).toEqual({ code: 0, stdout: 'db.one  Fixed pass\ndb.two  Two\n', stderr: '' });
    const json = await cli(['doctor', '--list', '--json'], { checks });
    expect(JSON.parse(json.stdout)).toEqual({
      checks: [
        { id: 'db.one', title: 'Fixed pass' },
        { id: 'db.two', title: 'Two' },
        { id: 'queue', title: 'Fixed pass' },
      ],
    });
    expect(ran).toBe(false);
  });

  it('reports an unexpected error in a command as internal (70), on one line, without a stack', async () => {
    const broken: RegisterCommand = (program) => {
      program.command('broken').action(() => {
        throw new TypeError('cannot read properties of undefined\n  at somewhere');
      });
    };
    const result = await cli(['broken'], { commands: [broken] });
    expect(result.code).toBe(70);
    expect(result.stderr).toMatch(
      /^internal error: cannot read properties of undefined at somewhere\n/,
    );
    expect(result.stderr).not.toMatch(STACK_TRACE);

    const debug = await cli(['broken'], { commands: [broken], env: { MESKIT_DEBUG: '1' } });
    expect(debug.stderr).toMatch(STACK_TRACE);
  });

  it('lets later packages add commands, which inherit exit codes, output and help', async () => {
    const example: RegisterCommand = (program, ctx) => {
      // Built standalone and attached: settings must still reach it.
      const command = new Command('example')
        .description('an example command')
        .requiredOption('--model <file>', 'the 3D model')
        .action((options: { model: string }) => {
          ctx.stdout.write(`example ${options.model}\n`);
          ctx.setExitCode(1);
        });
      program.addCommand(command);
    };
    const commands = [...builtinCommands(), example];
    expect(await cli(['example', '--model', 'ring.stl'], { commands })).toEqual({
      code: 1,
      stdout: 'example ring.stl\n',
      stderr: '',
    });
    const missing = await cli(['example'], { commands });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("required option '--model <file>' not specified");
    const help = await cli(['example', '--help'], { commands });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Exit codes:');
    expect((await cli(['--help'], { commands })).stdout).toMatch(
      /doctor[\s\S]*price[\s\S]*example/,
    );
  });

  it('registerCheck adds to the default registry used by meskit doctor', async () => {
    registerCheck(fixed('cache-proxy.admin', 'warn'));
    expect(defaultCheckRegistry().has('cache-proxy.admin')).toBe(true);
    const result = await cli(['doctor', '--only', 'cache-proxy']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('WARN    cache-proxy.admin');
    expect(() => registerCheck(fixed('redis', 'pass'))).toThrow(/already registered/);
  });
});

describe('what the CLI loads', () => {
  /** External memory (bytes) of a fresh Node process after importing `specifiers`. */
  function externalAfter(...specifiers: string[]): number {
    const imports = specifiers.map((s) => `await import(${JSON.stringify(s)});`).join(' ');
    const child = spawnSync(
      process.execPath,
      ['--input-type=module', '-e', `${imports} console.log(process.memoryUsage().external);`],
      { cwd: new URL('..', import.meta.url), encoding: 'utf8' },
    );
    expect(child.status, child.stderr).toBe(0);
    return Number(child.stdout.trim());
  }

  it("leaves db-router's parser (WebAssembly, ~136 MB) unloaded until a db command runs", () => {
    const program = new URL('../dist/program.js', import.meta.url).href;
    // The measurement sees the parser when it is loaded...
    expect(externalAfter('@meskit/db-router')).toBeGreaterThan(100e6);
    // ...and every command (`meskit cache-proxy` among them) starts without it.
    expect(externalAfter(program)).toBeLessThan(50e6);
  });
});
