import { describe, expect, it } from 'vitest';
import { CliError, DEFAULTS, resolveDoctorConfig } from '../src/index.js';

describe('resolveDoctorConfig', () => {
  it('takes flags over env vars over defaults; empty env vars count as unset', () => {
    const config = resolveDoctorConfig(
      { redisUrl: 'redis://flag:6379', timeoutMs: 500 },
      {
        REDIS_URL: 'redis://env:6379',
        DATABASE_URL: 'postgres://env/db',
        DATABASE_REPLICA_URL: '',
        MESKIT_DOCTOR_MAX_LAG_SECONDS: '2.5',
      },
    );
    expect(config).toMatchObject({
      redisUrl: 'redis://flag:6379',
      databaseUrl: 'postgres://env/db',
      replicaUrl: undefined,
      amqpUrl: undefined,
      mesUrl: undefined,
      timeoutMs: 500,
      maxLagSeconds: 2.5,
    });
    expect(resolveDoctorConfig({}, {})).toMatchObject({
      timeoutMs: DEFAULTS.timeoutMs,
      maxLagSeconds: DEFAULTS.maxLagSeconds,
    });
  });

  it('rejects a URL of the wrong kind, naming the flag or env var, with the password masked', () => {
    expect(() => resolveDoctorConfig({ amqpUrl: 'http://u:hunter22@mq' }, {})).toThrow(
      'invalid --amqp-url: expected a URL starting with amqp:// or amqps://, got "http://u:***@mq"',
    );
    expect(() => resolveDoctorConfig({}, { DATABASE_URL: 'localhost:5432' })).toThrow(
      /invalid DATABASE_URL \(environment\)/,
    );
    expect(() => resolveDoctorConfig({}, { MESKIT_MES_URL: 'not a url' })).toThrow(CliError);
  });

  it('rejects bad numbers from env vars and from callers', () => {
    expect(() => resolveDoctorConfig({}, { MESKIT_DOCTOR_TIMEOUT_MS: '1.5' })).toThrow(
      /MESKIT_DOCTOR_TIMEOUT_MS \(environment\): expected a positive whole number/,
    );
    expect(() => resolveDoctorConfig({ maxLagSeconds: -1 }, {})).toThrow(/--max-lag-seconds/);
    let error: unknown;
    try {
      resolveDoctorConfig({ timeoutMs: 0 }, {});
    } catch (err) {
      error = err;
    }
    expect(error).toMatchObject({ code: 'CONFIG', exitCode: 2 });
  });
});
