// Options over env vars over DEFAULTS, resolved once when telemetry starts.
// Two kinds of bad input, two treatments (STYLE.md): an option given in code with the wrong
// type is a programmer error and throws here, naming the option; a malformed env var is
// runtime misconfiguration of the host and becomes one warning plus a fallback.
import type { Instrumentation } from '@opentelemetry/instrumentation';
import type { Sampler } from '@opentelemetry/sdk-trace';
import { DEFAULTS } from '../defaults.js';
import { TelemetryError } from '../errors.js';
import type { InstrumentationOptions, NormalizeRoute, TelemetryOptions } from '../options.js';
import { redactText } from './redact.js';
import { samplerFromEnv } from './sampler.js';

export type Env = Readonly<Record<string, string | undefined>>;

/** A problem with an env var: the caller warns with MESKIT_OTEL_INVALID_CONFIG, once per variable. */
export interface ConfigProblem {
  readonly variable: string;
  readonly message: string;
}

export interface LokiConfig {
  /** Full push URL, without credentials (fetch refuses URLs that carry them). */
  readonly pushUrl: string;
  readonly basicAuth: { readonly username: string; readonly password: string } | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly batchIntervalMs: number;
  readonly maxBufferedLines: number;
  readonly timeoutMs: number;
}

export interface ResolvedConfig {
  readonly serviceName: string;
  /** Set when the name came from an option: the SDK reads the env var itself otherwise. */
  readonly serviceNameOption: string | undefined;
  readonly environment: string;
  /** Resource attributes to add on top of what the SDK detects (OTEL_RESOURCE_ATTRIBUTES included). */
  readonly resourceAttributes: Readonly<Record<string, string | number | boolean>>;
  readonly tracing: {
    readonly enabled: boolean;
    /** Why tracing is off, for the handle and the docs; undefined when on. */
    readonly disabledBy: string | undefined;
    readonly url: string;
    readonly headers: Readonly<Record<string, string>> | undefined;
    readonly sampler: Sampler;
    readonly samplerDescription: string;
    readonly maxQueueSize: number;
    readonly maxExportBatchSize: number;
    readonly scheduledDelayMs: number;
    readonly exportTimeoutMs: number;
    /** Time limit of one OTLP request (OTEL_EXPORTER_OTLP_(TRACES_)TIMEOUT), capped by exportTimeoutMs. */
    readonly requestTimeoutMs: number;
    /** OTEL_EXPORTER_OTLP_(TRACES_)COMPRESSION: `gzip` or none. */
    readonly gzip: boolean;
    readonly instrumentations: InstrumentationOptions;
    readonly extraInstrumentations: readonly Instrumentation[];
  };
  readonly metrics: {
    readonly port: number | false;
    readonly host: string;
    readonly defaultMetrics: boolean;
    readonly httpServerMetrics: boolean;
    readonly normalizeRoute: NormalizeRoute | undefined;
    readonly maxRoutes: number;
    readonly buckets: readonly number[];
  };
  readonly logs: {
    readonly level: string;
    readonly stdout: boolean;
    readonly loki: LokiConfig | undefined;
    readonly redactKeys: readonly (string | RegExp)[];
  };
  readonly handleSignals: boolean;
  readonly shutdownTimeoutMs: number;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const LOKI_PUSH_PATH = 'loki/api/v1/push';
const INSTRUMENTATION_NAMES = ['http', 'pg', 'amqplib', 'ioredis', 'pino'] as const;

/**
 * Resolves every setting. Throws TelemetryError `MESKIT_OTEL_INVALID_OPTION` for a bad
 * option; returns env problems in `problems` instead of throwing.
 */
export function resolveConfig(
  options: TelemetryOptions,
  env: Env,
): { config: ResolvedConfig; problems: ConfigProblem[] } {
  if (options === null || typeof options !== 'object') {
    throw invalid('options', 'an object', options);
  }
  const problems: ConfigProblem[] = [];
  const fromEnv = (name: string): string | undefined => {
    // An empty variable is how shells unset things.
    const value = env[name]?.trim();
    return value ? value : undefined;
  };

  const resourceFromEnv = parseKeyValueList(fromEnv('OTEL_RESOURCE_ATTRIBUTES'));
  const serviceNameOption = optionalString(options, 'serviceName');
  const serviceName =
    serviceNameOption ??
    fromEnv('OTEL_SERVICE_NAME') ??
    resourceFromEnv['service.name'] ??
    'unknown_service:node';

  const environmentOption = optionalString(options, 'environment');
  const meskitEnv = fromEnv('MESKIT_ENV');
  const environment =
    environmentOption ??
    meskitEnv ??
    resourceFromEnv['deployment.environment.name'] ??
    resourceFromEnv['deployment.environment'] ??
    fromEnv('NODE_ENV') ??
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

  const tracing = resolveTracing(options, fromEnv, problems);
  const metrics = resolveMetrics(options, fromEnv, problems);
  const logs = resolveLogs(options, fromEnv, problems);

  const handleSignals = optionalBoolean(options, 'handleSignals') ?? true;
  let shutdownTimeoutMs: number = DEFAULTS.shutdownTimeoutMs;
  const shutdownOption = optionalInteger(options, 'shutdownTimeoutMs', 1);
  if (shutdownOption !== undefined) shutdownTimeoutMs = shutdownOption;
  else {
    const raw = fromEnv('MESKIT_TELEMETRY_SHUTDOWN_TIMEOUT_MS');
    if (raw !== undefined) {
      const parsed = Number(raw);
      if (Number.isSafeInteger(parsed) && parsed >= 1) shutdownTimeoutMs = parsed;
      else {
        problems.push({
          variable: 'MESKIT_TELEMETRY_SHUTDOWN_TIMEOUT_MS',
          message: `MESKIT_TELEMETRY_SHUTDOWN_TIMEOUT_MS="${raw}" is not a whole number of milliseconds ≥ 1; using ${DEFAULTS.shutdownTimeoutMs}`,
        });
      }
    }
  }

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
    problems,
  };
}

function resolveTracing(
  options: TelemetryOptions,
  fromEnv: (name: string) => string | undefined,
  problems: ConfigProblem[],
): ResolvedConfig['tracing'] {
  const tracingOption = optionalBoolean(options, 'tracing');
  let disabledBy: string | undefined;
  // OTEL_SDK_DISABLED is the operator's kill switch: it wins even over `tracing: true` in
  // code, as it does for the OpenTelemetry SDK itself.
  const sdkDisabled = fromEnv('OTEL_SDK_DISABLED');
  if (sdkDisabled?.toLowerCase() === 'true') disabledBy = 'OTEL_SDK_DISABLED=true';
  else if (sdkDisabled !== undefined && sdkDisabled.toLowerCase() !== 'false') {
    problems.push({
      variable: 'OTEL_SDK_DISABLED',
      message: `OTEL_SDK_DISABLED="${sdkDisabled}" is neither true nor false; tracing stays on`,
    });
  }
  if (disabledBy === undefined && tracingOption === false) disabledBy = 'the tracing option';
  const exporters = fromEnv('OTEL_TRACES_EXPORTER');
  if (disabledBy === undefined && tracingOption === undefined && exporters !== undefined) {
    const names = exporters.split(',').map((name) => name.trim().toLowerCase());
    if (names.includes('none')) disabledBy = 'OTEL_TRACES_EXPORTER=none';
    else if (names.some((name) => name !== 'otlp')) {
      problems.push({
        variable: 'OTEL_TRACES_EXPORTER',
        message: `OTEL_TRACES_EXPORTER="${exporters}": only otlp (over HTTP) and none are supported; exporting with otlp`,
      });
    }
  }

  const protocol =
    fromEnv('OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') ?? fromEnv('OTEL_EXPORTER_OTLP_PROTOCOL');
  if (protocol !== undefined && !['http/json', 'http/protobuf'].includes(protocol.toLowerCase())) {
    // http/protobuf is accepted silently: every OTLP/HTTP receiver takes JSON on the same path.
    problems.push({
      variable: 'OTEL_EXPORTER_OTLP_PROTOCOL',
      message: `OTLP protocol "${protocol}" is not supported: spans are sent as OTLP/HTTP JSON (point the endpoint at the collector's HTTP port, usually 4318)`,
    });
  }

  let url: string = DEFAULTS.otlpTracesUrl;
  const urlOption = optionalString(options, 'otlpTracesUrl');
  if (urlOption !== undefined) {
    if (!isHttpUrl(urlOption))
      throw invalid('otlpTracesUrl', 'an http:// or https:// URL', redactText(urlOption));
    url = urlOption;
  } else {
    const specific = fromEnv('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
    const general = fromEnv('OTEL_EXPORTER_OTLP_ENDPOINT');
    const [variable, candidate] =
      specific !== undefined
        ? ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', specific]
        : general !== undefined
          ? ['OTEL_EXPORTER_OTLP_ENDPOINT', `${general.replace(/\/+$/, '')}/v1/traces`]
          : [undefined, undefined];
    if (variable !== undefined && candidate !== undefined) {
      if (isHttpUrl(candidate)) url = candidate;
      else {
        problems.push({
          variable,
          message: `${variable}="${redactText(specific ?? general ?? '')}" is not an http(s) URL; spans are not exported (fix the variable, e.g. http://collector:4318)`,
        });
        if (disabledBy === undefined) disabledBy = `an invalid ${variable}`;
      }
    }
  }

  // The general variable, then the traces one, then the option: the more specific wins.
  let headers: Record<string, string> | undefined;
  for (const variable of ['OTEL_EXPORTER_OTLP_HEADERS', 'OTEL_EXPORTER_OTLP_TRACES_HEADERS']) {
    // Checked as well as parsed, so a typo is reported instead of turning into a silent 401
    // from the backend.
    const raw = fromEnv(variable);
    if (raw !== undefined) headers = { ...headers, ...parseKeyValueList(raw) };
    if (raw !== undefined && !isKeyValueList(raw)) {
      problems.push({
        variable,
        message: `${variable} is not a comma-separated list of key=value pairs; malformed entries are ignored`,
      });
    }
  }

  if (options.otlpHeaders !== undefined) {
    headers = { ...headers, ...stringRecord(options.otlpHeaders, 'otlpHeaders') };
  }

  let sampler: Sampler;
  let samplerDescription: string;
  if (options.sampler !== undefined) {
    if (typeof (options.sampler as Partial<Sampler> | null)?.shouldSample !== 'function') {
      throw invalid(
        'sampler',
        'an OpenTelemetry Sampler (an object with shouldSample())',
        options.sampler,
      );
    }
    sampler = options.sampler;
    samplerDescription = sampler.toString();
  } else {
    const fromVars = samplerFromEnv(
      fromEnv('OTEL_TRACES_SAMPLER'),
      fromEnv('OTEL_TRACES_SAMPLER_ARG'),
    );
    sampler = fromVars.sampler;
    samplerDescription = fromVars.description;
    problems.push(...fromVars.problems);
  }

  const bspNumber = (
    option: keyof TelemetryOptions,
    variable: string,
    fallback: number,
    min: number,
  ) => {
    const given = optionalInteger(options, option, min);
    if (given !== undefined) return given;
    const raw = fromEnv(variable);
    if (raw === undefined) return fallback;
    const parsed = Number(raw);
    if (Number.isSafeInteger(parsed) && parsed >= min) return parsed;
    problems.push({
      variable,
      message: `${variable}="${raw}" is not a whole number ≥ ${min}; using ${fallback}`,
    });
    return fallback;
  };
  const maxQueueSize = bspNumber(
    'maxQueueSize',
    'OTEL_BSP_MAX_QUEUE_SIZE',
    DEFAULTS.maxQueueSize,
    1,
  );
  const maxExportBatchSize = Math.min(
    bspNumber(
      'maxExportBatchSize',
      'OTEL_BSP_MAX_EXPORT_BATCH_SIZE',
      DEFAULTS.maxExportBatchSize,
      1,
    ),
    maxQueueSize,
  );
  const scheduledDelayMs = bspNumber(
    'scheduledDelayMs',
    'OTEL_BSP_SCHEDULE_DELAY',
    DEFAULTS.scheduledDelayMs,
    0,
  );
  const exportTimeoutMs = bspNumber(
    'exportTimeoutMs',
    'OTEL_BSP_EXPORT_TIMEOUT',
    DEFAULTS.exportTimeoutMs,
    1,
  );
  // The exporter's own timeout variables, which the OTLP exporter read itself before export
  // moved to our worker: the traces one wins over the general one.
  const requestTimeoutVariable =
    fromEnv('OTEL_EXPORTER_OTLP_TRACES_TIMEOUT') !== undefined
      ? 'OTEL_EXPORTER_OTLP_TRACES_TIMEOUT'
      : 'OTEL_EXPORTER_OTLP_TIMEOUT';
  const requestTimeoutMs = Math.min(
    bspNumber('exportTimeoutMs', requestTimeoutVariable, DEFAULTS.otlpRequestTimeoutMs, 1),
    exportTimeoutMs,
  );
  const compression = (
    fromEnv('OTEL_EXPORTER_OTLP_TRACES_COMPRESSION') ?? fromEnv('OTEL_EXPORTER_OTLP_COMPRESSION')
  )
    ?.trim()
    .toLowerCase();
  const gzip = compression === 'gzip';

  const instrumentations: InstrumentationOptions = {};
  if (options.instrumentations !== undefined) {
    if (!isPlainRecord(options.instrumentations)) {
      throw invalid(
        'instrumentations',
        'an object such as { pg: false }',
        options.instrumentations,
      );
    }
    for (const [name, value] of Object.entries(options.instrumentations)) {
      if (!(INSTRUMENTATION_NAMES as readonly string[]).includes(name)) {
        throw invalid(
          `instrumentations.${name}`,
          `one of ${INSTRUMENTATION_NAMES.join(', ')} (use extraInstrumentations for others)`,
          value,
        );
      }
      if (value !== undefined && typeof value !== 'boolean' && !isPlainRecord(value)) {
        throw invalid(`instrumentations.${name}`, 'true, false or a configuration object', value);
      }
    }
    Object.assign(instrumentations, options.instrumentations);
  }
  const extraInstrumentations = options.extraInstrumentations ?? [];
  if (!Array.isArray(extraInstrumentations)) {
    throw invalid(
      'extraInstrumentations',
      'an array of OpenTelemetry instrumentations',
      extraInstrumentations,
    );
  }

  return {
    enabled: disabledBy === undefined,
    disabledBy,
    url,
    headers,
    sampler,
    samplerDescription,
    maxQueueSize,
    maxExportBatchSize,
    scheduledDelayMs,
    exportTimeoutMs,
    requestTimeoutMs,
    gzip,
    instrumentations,
    extraInstrumentations,
  };
}

function resolveMetrics(
  options: TelemetryOptions,
  fromEnv: (name: string) => string | undefined,
  problems: ConfigProblem[],
): ResolvedConfig['metrics'] {
  let port: number | false = DEFAULTS.metricsPort;
  if (options.metricsPort !== undefined) {
    const value = options.metricsPort;
    if (value !== false && !(Number.isInteger(value) && value >= 0 && value <= 65_535)) {
      throw invalid('metricsPort', 'a port number 0-65535 (0 = any free port) or false', value);
    }
    port = value;
  } else {
    const raw = fromEnv('MESKIT_METRICS_PORT');
    if (raw !== undefined) {
      const parsed = Number(raw);
      if (['off', 'false', 'none'].includes(raw.toLowerCase())) port = false;
      else if (/^\d+$/.test(raw) && parsed <= 65_535) port = parsed;
      else {
        problems.push({
          variable: 'MESKIT_METRICS_PORT',
          message: `MESKIT_METRICS_PORT="${raw}" is not a port number (0-65535, 0 = any free port, off = do not serve); using ${DEFAULTS.metricsPort}`,
        });
      }
    }
  }
  const host =
    optionalString(options, 'metricsHost') ??
    fromEnv('MESKIT_METRICS_HOST') ??
    DEFAULTS.metricsHost;

  if (options.normalizeRoute !== undefined && typeof options.normalizeRoute !== 'function') {
    throw invalid(
      'normalizeRoute',
      'a function (path, request) => string | undefined',
      options.normalizeRoute,
    );
  }
  const buckets = options.httpDurationBuckets ?? DEFAULTS.httpDurationBuckets;
  if (
    !Array.isArray(buckets) ||
    buckets.length === 0 ||
    !buckets.every(
      (b, i) =>
        typeof b === 'number' &&
        Number.isFinite(b) &&
        b > 0 &&
        (i === 0 || b > (buckets[i - 1] as number)),
    )
  ) {
    throw invalid(
      'httpDurationBuckets',
      'a non-empty array of ascending positive numbers of seconds',
      buckets,
    );
  }
  return {
    port,
    host,
    defaultMetrics: optionalBoolean(options, 'defaultMetrics') ?? true,
    httpServerMetrics: optionalBoolean(options, 'httpServerMetrics') ?? true,
    normalizeRoute: options.normalizeRoute,
    maxRoutes: optionalInteger(options, 'maxRoutes', 1) ?? DEFAULTS.maxRoutes,
    buckets: [...buckets],
  };
}

function resolveLogs(
  options: TelemetryOptions,
  fromEnv: (name: string) => string | undefined,
  problems: ConfigProblem[],
): ResolvedConfig['logs'] {
  let level: string = DEFAULTS.logLevel;
  const levelOption = optionalString(options, 'logLevel');
  if (levelOption !== undefined) {
    if (!LOG_LEVELS.includes(levelOption))
      throw invalid('logLevel', `one of ${LOG_LEVELS.join(', ')}`, levelOption);
    level = levelOption;
  } else {
    const raw = fromEnv('MESKIT_LOG_LEVEL');
    if (raw !== undefined) {
      if (LOG_LEVELS.includes(raw.toLowerCase())) level = raw.toLowerCase();
      else {
        problems.push({
          variable: 'MESKIT_LOG_LEVEL',
          message: `MESKIT_LOG_LEVEL="${raw}" is not one of ${LOG_LEVELS.join(', ')}; using ${DEFAULTS.logLevel}`,
        });
      }
    }
  }

  let loki: LokiConfig | undefined;
  const lokiOption = options.lokiUrl;
  let lokiRaw: string | undefined;
  if (lokiOption !== undefined && lokiOption !== false) {
    if (typeof lokiOption !== 'string' || !isHttpUrl(lokiOption)) {
      throw invalid(
        'lokiUrl',
        'an http:// or https:// URL, or false',
        typeof lokiOption === 'string' ? redactText(lokiOption) : lokiOption,
      );
    }
    lokiRaw = lokiOption;
  } else if (lokiOption === undefined) {
    lokiRaw = fromEnv('MESKIT_LOKI_URL');
  }
  if (lokiRaw !== undefined) {
    if (!isHttpUrl(lokiRaw)) {
      problems.push({
        variable: 'MESKIT_LOKI_URL',
        message: `MESKIT_LOKI_URL="${redactText(lokiRaw)}" is not an http(s) URL; logs are not shipped to Loki`,
      });
    } else {
      let headers: Record<string, string> = {};
      if (options.lokiHeaders !== undefined)
        headers = stringRecord(options.lokiHeaders, 'lokiHeaders');
      else {
        const rawHeaders = fromEnv('MESKIT_LOKI_HEADERS');
        if (rawHeaders !== undefined) {
          if (!isKeyValueList(rawHeaders)) {
            problems.push({
              variable: 'MESKIT_LOKI_HEADERS',
              message:
                'MESKIT_LOKI_HEADERS is not a comma-separated list of key=value pairs; malformed entries are ignored',
            });
          }
          headers = parseKeyValueList(rawHeaders);
        }
      }
      let batchIntervalMs: number = DEFAULTS.lokiBatchIntervalMs;
      const intervalOption = optionalInteger(options, 'lokiBatchIntervalMs', 1);
      if (intervalOption !== undefined) batchIntervalMs = intervalOption;
      else {
        const raw = fromEnv('MESKIT_LOKI_BATCH_INTERVAL_MS');
        if (raw !== undefined) {
          const parsed = Number(raw);
          if (Number.isSafeInteger(parsed) && parsed >= 1) batchIntervalMs = parsed;
          else {
            problems.push({
              variable: 'MESKIT_LOKI_BATCH_INTERVAL_MS',
              message: `MESKIT_LOKI_BATCH_INTERVAL_MS="${raw}" is not a whole number of milliseconds ≥ 1; using ${DEFAULTS.lokiBatchIntervalMs}`,
            });
          }
        }
      }
      loki = {
        ...splitLokiUrl(lokiRaw),
        headers,
        batchIntervalMs,
        maxBufferedLines: DEFAULTS.lokiMaxBufferedLines,
        timeoutMs: DEFAULTS.lokiTimeoutMs,
      };
    }
  }

  let stdout = loki === undefined;
  const stdoutOption = optionalBoolean(options, 'logStdout');
  if (stdoutOption !== undefined) stdout = stdoutOption;
  else {
    const raw = fromEnv('MESKIT_LOG_STDOUT');
    if (raw !== undefined) {
      if (['true', '1', 'yes', 'on'].includes(raw.toLowerCase())) stdout = true;
      else if (['false', '0', 'no', 'off'].includes(raw.toLowerCase())) stdout = false;
      else {
        problems.push({
          variable: 'MESKIT_LOG_STDOUT',
          message: `MESKIT_LOG_STDOUT="${raw}" is neither true nor false; ${stdout ? 'writing' : 'not writing'} logs to stdout`,
        });
      }
    }
  }

  const redactKeys = options.redactKeys ?? [];
  if (
    !Array.isArray(redactKeys) ||
    !redactKeys.every((k) => typeof k === 'string' || k instanceof RegExp)
  ) {
    throw invalid('redactKeys', 'an array of strings or regular expressions', redactKeys);
  }
  return { level, stdout, loki, redactKeys };
}

/** The push URL without credentials, and the credentials as basic auth. */
function splitLokiUrl(raw: string): Pick<LokiConfig, 'pushUrl' | 'basicAuth'> {
  const url = new URL(raw);
  const basicAuth =
    url.username || url.password
      ? { username: safeDecode(url.username), password: safeDecode(url.password) }
      : undefined;
  url.username = '';
  url.password = '';
  // A base URL (`http://loki:3100`, or a gateway prefix) gets the push path; a full push
  // URL is used as given.
  if (!url.pathname.replace(/\/+$/, '').endsWith(LOKI_PUSH_PATH)) {
    url.pathname = `${url.pathname.replace(/\/+$/, '')}/${LOKI_PUSH_PATH}`;
  }
  return { pushUrl: url.href, basicAuth };
}

/** `k=v,k2=v2` (the OTEL_* list format, values percent-decoded); malformed entries are skipped. */
export function parseKeyValueList(raw: string | undefined): Record<string, string> {
  const result: Record<string, string> = {};
  if (!raw) return result;
  for (const entry of raw.split(',')) {
    const index = entry.indexOf('=');
    if (index <= 0) continue;
    const key = entry.slice(0, index).trim();
    if (!key) continue;
    result[safeDecode(key)] = safeDecode(entry.slice(index + 1).trim());
  }
  return result;
}

function isKeyValueList(raw: string): boolean {
  return raw
    .split(',')
    .filter((entry) => entry.trim() !== '')
    .every((entry) => entry.indexOf('=') > 0 && entry.slice(0, entry.indexOf('=')).trim() !== '');
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function isHttpUrl(raw: string): boolean {
  try {
    const url = new URL(raw);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
}

function isPlainRecord(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function stringRecord(value: unknown, option: string): Record<string, string> {
  if (!isPlainRecord(value) || !Object.values(value).every((v) => typeof v === 'string')) {
    throw invalid(option, 'an object of string values', '(not shown: may hold secrets)');
  }
  return { ...(value as Record<string, string>) };
}

function optionalString(
  options: TelemetryOptions,
  key: keyof TelemetryOptions,
): string | undefined {
  const value: unknown = options[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.trim() === '')
    throw invalid(key, 'a non-empty string', value);
  return value;
}

function optionalBoolean(
  options: TelemetryOptions,
  key: keyof TelemetryOptions,
): boolean | undefined {
  const value: unknown = options[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw invalid(key, 'true or false', value);
  return value;
}

function optionalInteger(
  options: TelemetryOptions,
  key: keyof TelemetryOptions,
  min: number,
): number | undefined {
  const value: unknown = options[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw invalid(key, `a whole number ≥ ${min}`, value);
  }
  return value;
}

function invalid(option: string, expected: string, got: unknown): TelemetryError {
  let shown: string;
  try {
    shown =
      typeof got === 'string'
        ? JSON.stringify(got)
        : typeof got === 'function'
          ? 'a function'
          : String(JSON.stringify(got) ?? got);
  } catch {
    shown = Object.prototype.toString.call(got);
  }
  return new TelemetryError(
    'MESKIT_OTEL_INVALID_OPTION',
    `startTelemetry(): option ${option} must be ${expected}, got ${shown}`,
  );
}
