// Settings resolution: options over env vars over DEFAULTS. Bad options throw (programmer
// errors); bad env vars become problems the caller turns into one warning each.
import { describe, expect, it } from 'vitest';
import { DEFAULTS, InvalidOptionError } from '../src/index.js';
import type { Env } from '../src/internal/config/env.js';
import { resolveConfig } from '../src/internal/config/resolve.js';
import { samplerFromEnv } from '../src/internal/sampler.js';
import type { TelemetryOptions } from '../src/index.js';

const resolve = (env: Env, options: TelemetryOptions = {}) => resolveConfig(options, env);

describe('sampler from OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG', () => {
  it('defaults to parentbased_always_on', () => {
    const { description, problems } = samplerFromEnv(undefined, undefined);
    expect(description).toBe('parentbased_always_on');
    expect(problems).toEqual([]);
  });

  it('builds parentbased_traceidratio with the given ratio', () => {
    const { sampler, description, problems } = samplerFromEnv('parentbased_traceidratio', '0.25');
    expect(description).toBe('parentbased_traceidratio(0.25)');
    expect(sampler.toString()).toMatch(/^ParentBased\{root=TraceIdRatioBased\{0\.25\}/);
    expect(problems).toEqual([]);
  });

  it.each(['half', '1.5', '-0.1', 'NaN'])(
    'falls back to 1.0 for the malformed ratio %s and says which variable',
    (arg) => {
      const { description, problems } = samplerFromEnv('traceidratio', arg);
      expect(description).toBe('traceidratio(1)');
      expect(problems).toEqual([
        {
          variable: 'OTEL_TRACES_SAMPLER_ARG',
          message: expect.stringContaining(`OTEL_TRACES_SAMPLER_ARG="${arg}"`),
        },
      ]);
    },
  );

  it('falls back to parentbased_always_on for an unsupported sampler', () => {
    const { description, problems } = samplerFromEnv('jaeger_remote', undefined);
    expect(description).toBe('parentbased_always_on');
    expect(problems[0]?.variable).toBe('OTEL_TRACES_SAMPLER');
  });

  it('ignores the argument of a sampler that takes none', () => {
    expect(samplerFromEnv('always_off', 'banana').problems).toEqual([]);
  });
});

describe('resolveConfig: traces', () => {
  it('sends to localhost:4318 by default', () => {
    const { config, problems } = resolve({});
    expect(config.tracing.enabled).toBe(true);
    expect(config.tracing.url).toBe(DEFAULTS.otlpTracesUrl);
    expect(problems).toEqual([]);
  });

  it('appends /v1/traces to OTEL_EXPORTER_OTLP_ENDPOINT and takes OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as is', () => {
    expect(
      resolve({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }).config.tracing.url,
    ).toBe('http://collector:4318/v1/traces');
    expect(
      resolve({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://tempo.example/otlp/v1/traces',
      }).config.tracing.url,
    ).toBe('https://tempo.example/otlp/v1/traces');
  });

  it('turns export off with one problem for an endpoint that is not a URL', () => {
    const { config, problems } = resolve({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' });
    expect(config.tracing.enabled).toBe(false);
    expect(problems).toEqual([
      {
        variable: 'OTEL_EXPORTER_OTLP_ENDPOINT',
        message: expect.stringContaining('is not an http(s) URL'),
      },
    ]);
  });

  it('never shows the password of an endpoint URL in a problem', () => {
    const { problems } = resolve({
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'ftp://u:hunter22@collector',
    });
    expect(problems[0]?.message).toContain('ftp://u:***@collector');
    expect(JSON.stringify(problems)).not.toContain('hunter22');
  });

  it('obeys OTEL_SDK_DISABLED=true even over tracing: true, and OTEL_TRACES_EXPORTER=none', () => {
    expect(resolve({ OTEL_SDK_DISABLED: 'true' }, { tracing: true }).config.tracing).toMatchObject({
      enabled: false,
      disabledBy: 'OTEL_SDK_DISABLED=true',
    });
    expect(resolve({ OTEL_TRACES_EXPORTER: 'none' }).config.tracing.enabled).toBe(false);
    expect(resolve({ OTEL_SDK_DISABLED: 'false' }).config.tracing.enabled).toBe(true);
  });

  it('reports settings it cannot honour and carries on', () => {
    const { config, problems } = resolve({
      OTEL_TRACES_EXPORTER: 'jaeger',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
      OTEL_EXPORTER_OTLP_HEADERS: 'authorization',
      OTEL_BSP_MAX_QUEUE_SIZE: 'lots',
    });
    expect(config.tracing.enabled).toBe(true);
    expect(config.tracing.maxQueueSize).toBe(DEFAULTS.maxQueueSize);
    expect(problems.map((p) => p.variable)).toEqual([
      'OTEL_TRACES_EXPORTER',
      'OTEL_EXPORTER_OTLP_PROTOCOL',
      'OTEL_EXPORTER_OTLP_HEADERS',
      'OTEL_BSP_MAX_QUEUE_SIZE',
    ]);
  });

  it('exports to Zipkin, OTLP or both as OTEL_TRACES_EXPORTER or the option says', () => {
    expect(resolve({}).config.tracing.exporters).toEqual(['otlp']);
    const zipkin = resolve({
      OTEL_TRACES_EXPORTER: 'zipkin',
      OTEL_EXPORTER_ZIPKIN_ENDPOINT: 'http://zipkin:9411/api/v2/spans',
    });
    expect(zipkin.config.tracing).toMatchObject({
      enabled: true,
      exporters: ['zipkin'],
      zipkinUrl: 'http://zipkin:9411/api/v2/spans',
    });
    expect(zipkin.problems).toEqual([]);
    expect(resolve({}).config.tracing.zipkinUrl).toBe(DEFAULTS.zipkinUrl);
    expect(resolve({ OTEL_TRACES_EXPORTER: 'otlp, zipkin' }).config.tracing.exporters).toEqual([
      'otlp',
      'zipkin',
    ]);
    // An unknown name beside a known one: reported, the known one kept.
    const mixed = resolve({ OTEL_TRACES_EXPORTER: 'zipkin,jaeger' });
    expect(mixed.config.tracing.exporters).toEqual(['zipkin']);
    expect(mixed.problems.map((p) => p.variable)).toEqual(['OTEL_TRACES_EXPORTER']);
    expect(
      resolve({ OTEL_TRACES_EXPORTER: 'otlp' }, { tracesExporter: 'zipkin' }).config.tracing
        .exporters,
    ).toEqual(['zipkin']);
    expect(() => resolve({}, { tracesExporter: 'jaeger' as never })).toThrow(/tracesExporter/);
    expect(() => resolve({}, { zipkinUrl: 'zipkin:9411' })).toThrow(/zipkinUrl/);
    // A Zipkin URL that is no URL, with Zipkin chosen: reported, and nothing exported.
    const bad = resolve({
      OTEL_TRACES_EXPORTER: 'zipkin',
      OTEL_EXPORTER_ZIPKIN_ENDPOINT: 'zipkin',
    });
    expect(bad.config.tracing.enabled).toBe(false);
    expect(bad.problems.map((p) => p.variable)).toEqual(['OTEL_EXPORTER_ZIPKIN_ENDPOINT']);
  });

  it('bounds the export queue from OTEL_BSP_* and keeps the batch within the queue', () => {
    const { config } = resolve({ OTEL_BSP_MAX_QUEUE_SIZE: '100', OTEL_BSP_SCHEDULE_DELAY: '250' });
    expect(config.tracing).toMatchObject({
      maxQueueSize: 100,
      maxExportBatchSize: 100,
      scheduledDelayMs: 250,
    });
  });
});

describe('resolveConfig: names and labels', () => {
  it('takes the service name from the option, OTEL_SERVICE_NAME, then OTEL_RESOURCE_ATTRIBUTES', () => {
    expect(resolve({}).config.serviceName).toBe('unknown_service:node');
    expect(
      resolve({ OTEL_RESOURCE_ATTRIBUTES: 'service.name=from-attrs' }).config.serviceName,
    ).toBe('from-attrs');
    expect(
      resolve({ OTEL_RESOURCE_ATTRIBUTES: 'service.name=a', OTEL_SERVICE_NAME: 'b' }).config
        .serviceName,
    ).toBe('b');
    expect(resolve({ OTEL_SERVICE_NAME: 'b' }, { serviceName: 'c' }).config.serviceName).toBe('c');
  });

  it('takes the env label from MESKIT_ENV, deployment.environment(.name), NODE_ENV, then the default', () => {
    expect(resolve({}).config.environment).toBe(DEFAULTS.environment);
    expect(resolve({ NODE_ENV: 'production' }).config.environment).toBe('production');
    expect(
      resolve({
        NODE_ENV: 'production',
        OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=staging',
      }).config.environment,
    ).toBe('staging');
    const explicit = resolve({ MESKIT_ENV: 'plant-2', NODE_ENV: 'production' }).config;
    expect(explicit.environment).toBe('plant-2');
    expect(explicit.resourceAttributes).toEqual({ 'deployment.environment.name': 'plant-2' });
  });
});

describe('resolveConfig: metrics and logs', () => {
  it('reads MESKIT_METRICS_PORT: a number, 0 for any free port, off for none', () => {
    expect(resolve({}).config.metrics.port).toBe(9464);
    expect(resolve({ MESKIT_METRICS_PORT: '0' }).config.metrics.port).toBe(0);
    expect(resolve({ MESKIT_METRICS_PORT: 'off' }).config.metrics.port).toBe(false);
    const bad = resolve({ MESKIT_METRICS_PORT: '94a64' });
    expect(bad.config.metrics.port).toBe(9464);
    expect(bad.problems[0]?.variable).toBe('MESKIT_METRICS_PORT');
  });

  it('turns credentials in MESKIT_LOKI_URL into basic auth and adds the push path', () => {
    const { config } = resolve({ MESKIT_LOKI_URL: 'http://tenant:p%40ss@loki:3100' });
    expect(config.logs.loki).toMatchObject({
      pushUrl: 'http://loki:3100/loki/api/v1/push',
      basicAuth: { username: 'tenant', password: 'p@ss' },
    });
    expect(
      resolve({ MESKIT_LOKI_URL: 'https://logs.example/loki/api/v1/push' }).config.logs.loki
        ?.pushUrl,
    ).toBe('https://logs.example/loki/api/v1/push');
    expect(
      resolve({ MESKIT_LOKI_URL: 'https://gw.example/tenant-a' }).config.logs.loki?.pushUrl,
    ).toBe('https://gw.example/tenant-a/loki/api/v1/push');
  });

  it('writes JSON to stdout unless Loki is configured, and MESKIT_LOG_STDOUT decides explicitly', () => {
    expect(resolve({}).config.logs.stdout).toBe(true);
    expect(resolve({ MESKIT_LOKI_URL: 'http://loki:3100' }).config.logs.stdout).toBe(false);
    expect(
      resolve({ MESKIT_LOKI_URL: 'http://loki:3100', MESKIT_LOG_STDOUT: 'true' }).config.logs
        .stdout,
    ).toBe(true);
  });

  it('parses MESKIT_LOKI_HEADERS like OTEL_EXPORTER_OTLP_HEADERS', () => {
    const { config } = resolve({
      MESKIT_LOKI_URL: 'http://loki:3100',
      MESKIT_LOKI_HEADERS: 'X-Scope-OrgID=plant%202, x-b=1',
    });
    expect(config.logs.loki?.headers).toEqual({ 'X-Scope-OrgID': 'plant 2', 'x-b': '1' });
  });

  it('reports a Loki URL that is not a URL and leaves Loki off', () => {
    const { config, problems } = resolve({ MESKIT_LOKI_URL: 'loki:3100' });
    expect(config.logs.loki).toBeUndefined();
    expect(problems[0]?.variable).toBe('MESKIT_LOKI_URL');
  });
});

describe('resolveConfig: programmer errors throw, naming the option', () => {
  it.each<[TelemetryOptions, string, RegExp]>([
    [
      { serviceName: 42 as unknown as string },
      'serviceName',
      /option serviceName must be a non-empty string, got 42/,
    ],
    [{ metricsPort: 70_000 }, 'metricsPort', /option metricsPort must be a port number 0-65535/],
    [
      { instrumentations: { fs: true } as never },
      'instrumentations.fs',
      /option instrumentations\.fs must be one of http, pg, amqplib, ioredis, pino/,
    ],
    [
      { httpDurationBuckets: [1, 0.5] },
      'httpDurationBuckets',
      /option httpDurationBuckets must be a non-empty array of ascending positive numbers/,
    ],
    [
      { logLevel: 'verbose' },
      'logLevel',
      /option logLevel must be one of fatal, error, warn, info, debug, trace, silent/,
    ],
    [
      { otlpTracesUrl: 'udp://u:pw@collector' },
      'otlpTracesUrl',
      /option otlpTracesUrl must be an http:\/\/ or https:\/\/ URL, got "udp:\/\/u:\*\*\*@collector"/,
    ],
    [{ sampler: {} as never }, 'sampler', /option sampler must be an OpenTelemetry Sampler/],
    [
      { shutdownTimeoutMs: 0 },
      'shutdownTimeoutMs',
      /option shutdownTimeoutMs must be a whole number ≥ 1/,
    ],
  ])('%o', (options, option, message) => {
    let thrown: unknown;
    try {
      resolve({}, options);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(InvalidOptionError);
    const error = thrown as InvalidOptionError;
    expect(error.code).toBe('INVALID_OPTION');
    expect(error.component).toBe('startTelemetry');
    expect(error.option).toBe(option);
    expect(error.message).toMatch(message);
  });

  it('does not echo header values, which may be secrets', () => {
    expect(() =>
      resolve(
        {},
        { lokiUrl: 'http://loki:3100', lokiHeaders: { authorization: 5 as unknown as string } },
      ),
    ).toThrow(
      /option lokiHeaders must be an object of string values, got "\(not shown: may hold secrets\)"/,
    );
  });
});
