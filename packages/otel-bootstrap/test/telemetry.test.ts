// startTelemetry() in-process: the handle, a second start, idempotent shutdown. (Tracing and
// signals are exercised on real processes in the integration tests; here they stay off so
// this test process is not instrumented.)
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import {
  InvalidOptionError,
  getLogger,
  getRegistry,
  getTelemetry,
  startTelemetry,
  type Telemetry,
} from '../src/index.js';

describe('startTelemetry', () => {
  let telemetry: Telemetry;

  it('rejects an option of the wrong type before starting anything', () => {
    expect(() => startTelemetry({ metricsPort: -1 })).toThrow(InvalidOptionError);
    expect(() => startTelemetry({ metricsPort: -1 })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION', option: 'metricsPort' }),
    );
    expect(getTelemetry()).toBeUndefined();
  });

  it('returns a handle over the shared registry and root logger', async () => {
    telemetry = startTelemetry({
      serviceName: 'unit-test',
      environment: 'test',
      tracing: false,
      metricsPort: 0,
      logStdout: false,
      handleSignals: false,
    });
    expect(telemetry).toMatchObject({
      serviceName: 'unit-test',
      environment: 'test',
      tracing: false,
    });
    expect(telemetry.registry).toBe(getRegistry());
    expect(telemetry.logger).toBe(getLogger());
    expect(getTelemetry()).toBe(telemetry);
    const url = await telemetry.metricsUrl();
    const text = await (await fetch(url as string)).text();
    expect(text).toContain('# TYPE process_cpu_user_seconds_total counter');
    expect(text).toContain('# TYPE meskit_otel_spans_dropped_total counter');
  });

  it('ignores a second start with one warning and returns the running handle', async () => {
    const warned = once(process, 'warning');
    const second = startTelemetry({ serviceName: 'another' });
    expect(second).toBe(telemetry);
    const [warning] = (await warned) as [NodeJS.ErrnoException];
    expect(warning.code).toBe('MESKIT_OTEL_ALREADY_STARTED');
    expect(warning.name).toBe('MeskitTelemetryWarning');
  });

  it('still rejects bad options on a second start', () => {
    expect(() => startTelemetry({ logLevel: 'loud' })).toThrow(/option logLevel must be one of/);
  });

  it('shuts down once: a second call returns the same promise, and /metrics stops', async () => {
    const url = (await telemetry.metricsUrl()) as string;
    const first = telemetry.shutdown();
    expect(telemetry.shutdown()).toBe(first);
    expect(telemetry.close()).toBe(first);
    await first;
    await expect(fetch(url)).rejects.toThrow();
    await expect(telemetry.flush()).resolves.toBeUndefined();
  });
});
