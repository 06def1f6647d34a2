import { describe, expect, it } from 'vitest';
import { CheckRegistry, CliError, runChecks } from '../src/index.js';
import type { CheckOutcome, DoctorCheck } from '../src/index.js';
import { testConfig } from './helpers.js';

function check(id: string, run: DoctorCheck['run'], title = `title of ${id}`): DoctorCheck {
  return { id, title, run };
}

const passing = (id: string, message = `${id} ok`) =>
  check(id, async () => ({ status: 'pass', message }));

describe('CheckRegistry', () => {
  it('reports results in registration order, not completion order', async () => {
    let releaseFirst!: () => void;
    const firstMayFinish = new Promise<void>((resolve) => (releaseFirst = resolve));
    const registry = new CheckRegistry([
      check('slow', async () => {
        await firstMayFinish;
        return { status: 'pass', message: 'slow done' };
      }),
      check('fast', async () => {
        releaseFirst();
        return { status: 'pass', message: 'fast done' };
      }),
    ]);
    const report = await registry.run(testConfig());
    expect(report.checks.map((c) => c.id)).toEqual(['slow', 'fast']);
  });

  it('runs checks concurrently', async () => {
    // Each check waits for the other to have started: run one after the other, the first
    // would wait forever and time out.
    let aStarted!: () => void;
    let bStarted!: () => void;
    const a = new Promise<void>((resolve) => (aStarted = resolve));
    const b = new Promise<void>((resolve) => (bStarted = resolve));
    const registry = new CheckRegistry([
      check('a', async () => {
        aStarted();
        await b;
        return { status: 'pass', message: 'a' };
      }),
      check('b', async () => {
        bStarted();
        await a;
        return { status: 'pass', message: 'b' };
      }),
    ]);
    const report = await registry.run(testConfig());
    expect(report.checks.map((c) => c.status)).toEqual(['pass', 'pass']);
  });

  it('--only selects by exact id or by dotted prefix, keeping registration order', () => {
    const registry = new CheckRegistry([
      passing('postgres.primary'),
      passing('postgres.replica'),
      passing('postgresx'),
      passing('redis'),
    ]);
    expect(registry.select(['redis', 'postgres']).map((c) => c.id)).toEqual([
      'postgres.primary',
      'postgres.replica',
      'redis',
    ]);
    expect(registry.select(['postgres.replica']).map((c) => c.id)).toEqual(['postgres.replica']);
    expect(registry.select([' redis ', '']).map((c) => c.id)).toEqual(['redis']);
    expect(registry.select(undefined)).toHaveLength(4);
  });

  it('--only with an unknown id is a usage error listing the known ids', () => {
    const registry = new CheckRegistry([passing('redis'), passing('mes')]);
    const error = catchError(() => registry.select(['redis', 'rabbit']));
    expect(error).toBeInstanceOf(CliError);
    expect(error).toMatchObject({ code: 'USAGE', exitCode: 2 });
    expect((error as Error).message).toContain('"rabbit"');
    expect((error as Error).message).toContain('redis, mes');
    expect(catchError(() => registry.select(['', ' ']))).toMatchObject({ code: 'USAGE' });
  });

  it('refuses duplicate ids and malformed checks with a message that says what to fix', () => {
    const registry = new CheckRegistry([passing('redis')]);
    expect(catchError(() => registry.register(passing('redis')))).toMatchObject({
      code: 'DUPLICATE_CHECK',
      exitCode: 70,
    });
    expect(catchError(() => registry.register(passing('Bad Id')))).toMatchObject({
      code: 'INVALID_CHECK',
    });
    const noRun = { id: 'x', title: 'X' } as unknown as DoctorCheck;
    expect(catchError(() => registry.register(noRun))).toMatchObject({ code: 'INVALID_CHECK' });
    expect(registry.list().map((c) => c.id)).toEqual(['redis']);
  });
});

describe('runChecks', () => {
  it('turns a rejecting or synchronously throwing check into fail with a one-line message', async () => {
    const report = await runChecks(
      [
        check('rejects', async () => {
          throw new Error('cannot connect to X at h:1: connection refused\n    at fake (x.js:1:1)');
        }),
        check('throws', () => {
          throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), {
            code: 'ECONNREFUSED',
          });
        }),
        check('rejects-non-error', () => Promise.reject(new Error(''))),
        passing('fine'),
      ],
      testConfig(),
    );
    expect(report.ok).toBe(false);
    const [rejects, throws, nonError, fine] = report.checks;
    expect(rejects).toMatchObject({
      status: 'fail',
      message: 'cannot connect to X at h:1: connection refused at fake (x.js:1:1)',
    });
    expect(throws).toMatchObject({ status: 'fail', message: 'connection refused' });
    expect(nonError).toMatchObject({ status: 'fail', message: 'Error' });
    expect(fine).toMatchObject({ status: 'pass', message: 'fine ok' });
    for (const result of report.checks) expect(result.message).not.toContain('\n');
  });

  it('fails a check that outlives its time limit and aborts its signal', async () => {
    let abortReason: unknown;
    const hanging = check('hangs', (ctx) => {
      ctx.step('waiting for a server that never answers');
      ctx.signal.addEventListener('abort', () => (abortReason = ctx.signal.reason));
      return new Promise<CheckOutcome>(() => {});
    });
    const report = await runChecks([hanging, passing('other')], testConfig({ timeoutMs: 50 }));
    const [hangs, other] = report.checks;
    expect(hangs).toMatchObject({ status: 'fail' });
    expect(hangs?.message).toContain('timed out after 50 ms');
    expect(hangs?.message).toContain('while waiting for a server that never answers');
    expect(other).toMatchObject({ status: 'pass' });
    expect(abortReason).toMatchObject({ name: 'TimeoutError' });
    expect(report.ok).toBe(false);
  });

  it('a check rejecting because of the abort still reports the timeout', async () => {
    const report = await runChecks(
      [
        check('reacts-to-abort', (ctx) => {
          return new Promise<CheckOutcome>((_resolve, reject) => {
            ctx.signal.addEventListener('abort', () => reject(new Error('socket destroyed')));
          });
        }),
      ],
      testConfig({ timeoutMs: 20 }),
    );
    expect(report.checks[0]?.message).toMatch(/^timed out after 20 ms/);
  });

  it('aborts the signal once the check finished, so leftovers can close', async () => {
    let signal: AbortSignal | undefined;
    await runChecks(
      [
        check('done', async (ctx) => {
          signal = ctx.signal;
          return { status: 'pass', message: 'ok' };
        }),
      ],
      testConfig(),
    );
    expect(signal?.aborted).toBe(true);
  });

  it('warn and skip do not make the report fail', async () => {
    const report = await runChecks(
      [
        passing('a'),
        check('b', async () => ({ status: 'warn', message: 'lagging' })),
        check('c', async () => ({ status: 'skip', message: 'not configured' })),
      ],
      testConfig(),
    );
    expect(report.ok).toBe(true);
    expect(report.checks.map((c) => c.status)).toEqual(['pass', 'warn', 'skip']);
  });

  it('a malformed outcome becomes fail instead of a crash', async () => {
    const report = await runChecks(
      [
        check(
          'bad-status',
          async () => ({ status: 'ok', message: 'x' }) as unknown as CheckOutcome,
        ),
        check('nothing', async () => undefined as unknown as CheckOutcome),
      ],
      testConfig(),
    );
    expect(report.checks.map((c) => c.status)).toEqual(['fail', 'fail']);
    expect(report.checks[0]?.message).toContain('no valid outcome');
  });

  it('redacts configured passwords and URL passwords in messages and details', async () => {
    const config = testConfig({
      databaseUrl: 'postgres://mes:Sup3r%2Fsecret@db:5432/mes',
      env: { OTHER_URL: 'amqp://bus:busPassw0rd@mq' },
    });
    const report = await runChecks(
      [
        check('leaky', async () => ({
          status: 'fail',
          message: 'login as mes with Sup3r/secret failed; also busPassw0rd',
          details: {
            url: 'redis://:hunter22@cache:6379',
            nested: [{ note: 'Sup3r%2Fsecret' }],
            password: 'x',
            count: 3,
          },
        })),
      ],
      config,
    );
    const [leaky] = report.checks;
    expect(leaky?.message).toBe('login as mes with *** failed; also ***');
    expect(leaky?.details).toEqual({
      url: 'redis://:***@cache:6379',
      nested: [{ note: '***' }],
      password: '***',
      count: 3,
    });
  });
});

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to throw');
}
