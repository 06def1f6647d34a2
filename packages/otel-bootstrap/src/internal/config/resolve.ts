// Options over env vars over DEFAULTS, resolved once when telemetry starts: the shared part
// (service name, environment, resource, shutdown) here, each signal's settings in its own
// module (tracing.ts, metrics.ts, logs.ts), every env var read through env.ts.
// Two kinds of bad input, two treatments (STYLE.md): an option given in code with the wrong
// type is a programmer error and throws here, naming the option; a malformed env var is
// runtime misconfiguration of the host and becomes one warning plus a fallback.
import { DEFAULTS } from '../../defaults.js';
import type { TelemetryOptions } from '../../options.js';
import {
  invalid,
  isPlainRecord,
  optionalBoolean,
  optionalInteger,
  optionalString,
} from './checks.js';
import { EnvReader, parseKeyValueList, type ConfigProblem, type Env } from './env.js';
import { resolveLogs, type LogsConfig } from './logs.js';
import { resolveMetrics, type MetricsConfig } from './metrics.js';
import { resolveTracing, type TracingConfig } from './tracing.js';

export interface ResolvedConfig {
  readonly serviceName: string;
  /** Set when the name came from an option: the SDK reads the env var itself otherwise. */
  readonly serviceNameOption: string | undefined;
  readonly environment: string;
  /** Resource attributes to add on top of what the SDK detects (OTEL_RESOURCE_ATTRIBUTES included). */
  readonly resourceAttributes: Readonly<Record<string, string | number | boolean>>;
  readonly tracing: TracingConfig;
  readonly metrics: MetricsConfig;
  readonly logs: LogsConfig;
  readonly handleSignals: boolean;
  readonly shutdownTimeoutMs: number;
}

/**
 * Resolves every setting. Throws the kernel's InvalidOptionError (`INVALID_OPTION`, naming
 * the option) for a bad option; returns env problems in `problems` instead of throwing.
 */
export function resolveConfig(
  options: TelemetryOptions,
  envVars: Env,
): { config: ResolvedConfig; problems: ConfigProblem[] } {
  if (options === null || typeof options !== 'object') {
    throw invalid('options', 'an object', options);
  }
  const env = new EnvReader(envVars);

  const resourceFromEnv = parseKeyValueList(env.string('OTEL_RESOURCE_ATTRIBUTES'));
  const serviceNameOption = optionalString(options, 'serviceName');
  const serviceName =
    serviceNameOption ??
    env.string('OTEL_SERVICE_NAME') ??
    resourceFromEnv['service.name'] ??
    'unknown_service:node';

  const environmentOption = optionalString(options, 'environment');
  const meskitEnv = env.string('MESKIT_ENV');
  const environment =
    environmentOption ??
    meskitEnv ??
    resourceFromEnv['deployment.environment.name'] ??
    resourceFromEnv['deployment.environment'] ??
    env.string('NODE_ENV') ??
    DEFAULTS.environment;

  const resourceAttributes: Record<string, string | number | boolean> = {};
  const explicitEnvironment = environmentOption ?? meskitEnv;
  if (explicitEnvironment !== undefined) {
    resourceAttributes['deployment.environment.name'] = explicitEnvironment;
  }
  if (options.resourceAttributes !== undefined) {
    if (!isPlainRecord(options.resourceAttributes)) {
      throw invalid(
        'resourceAttributes',
        'an object of string, number or boolean values',
        options.resourceAttributes,
      );
    }
    for (const [key, value] of Object.entries(options.resourceAttributes)) {
      if (!['string', 'number', 'boolean'].includes(typeof value)) {
        throw invalid(`resourceAttributes.${key}`, 'a string, number or boolean', value);
      }
      resourceAttributes[key] = value;
    }
  }

  const tracing = resolveTracing(options, env);
  const metrics = resolveMetrics(options, env);
  const logs = resolveLogs(options, env);

  const handleSignals = optionalBoolean(options, 'handleSignals') ?? true;
  const shutdownTimeoutMs =
    optionalInteger(options, 'shutdownTimeoutMs', 1) ??
    env.integer(
      'MESKIT_TELEMETRY_SHUTDOWN_TIMEOUT_MS',
      DEFAULTS.shutdownTimeoutMs,
      1,
      'milliseconds',
    );

  return {
    config: {
      serviceName,
      serviceNameOption,
      environment,
      resourceAttributes,
      tracing,
      metrics,
      logs,
      handleSignals,
      shutdownTimeoutMs,
    },
    problems: env.problems,
  };
}
