// Logs settings: the root logger's level and line format, stdout, Loki (push URL, credentials,
// headers, batching) and the extra keys to redact.
import { DEFAULTS } from '../../defaults.js';
import type { TelemetryOptions } from '../../options.js';
import { redactText } from '../redact.js';
import {
  invalid,
  isHttpUrl,
  optionalBoolean,
  optionalInteger,
  optionalString,
  stringRecord,
} from './checks.js';
import { parseKeyValueList, safeDecode, type EnvReader } from './env.js';

export interface LokiConfig {
  /** Full push URL, without credentials (fetch refuses URLs that carry them). */
  readonly pushUrl: string;
  readonly basicAuth: { readonly username: string; readonly password: string } | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly batchIntervalMs: number;
  readonly maxBufferedLines: number;
  readonly timeoutMs: number;
}

/** The shape of the root logger's lines: pino's JSON, or Elastic Common Schema for Filebeat. */
export type LogFormat = 'pino' | 'ecs';

export interface LogsConfig {
  readonly level: string;
  readonly format: LogFormat;
  readonly stdout: boolean;
  readonly loki: LokiConfig | undefined;
  readonly redactKeys: readonly (string | RegExp)[];
}

/** pino's levels, and `silent`. */
const LOG_LEVELS: readonly string[] = [
  'fatal',
  'error',
  'warn',
  'info',
  'debug',
  'trace',
  'silent',
];
const LOG_FORMATS: readonly LogFormat[] = ['pino', 'ecs'];
const LOKI_PUSH_PATH = 'loki/api/v1/push';
// VictoriaLogs serves Loki's push API under its own prefix: /insert/loki/api/v1/push.
const VICTORIALOGS_LOKI_BASE = '/insert/loki';

/**
 * The root logger's level from MESKIT_LOG_LEVEL alone, for the logger handed out before
 * telemetry starts (startTelemetry() reports a malformed value; here it falls back quietly).
 */
export function logLevelFromEnv(env: EnvReader): string {
  return env.oneOf('MESKIT_LOG_LEVEL', LOG_LEVELS, DEFAULTS.logLevel);
}

/** The root logger's line format from MESKIT_LOG_FORMAT alone (see logLevelFromEnv). */
export function logFormatFromEnv(env: EnvReader): LogFormat {
  return env.oneOf('MESKIT_LOG_FORMAT', LOG_FORMATS, DEFAULTS.logFormat) as LogFormat;
}

/**
 * `service` and `env` of lines written before startTelemetry() (the ECS lines carry them as
 * `service.name` and `service.environment`), in resolveConfig()'s order of precedence;
 * startTelemetry() replaces them with its resolved values.
 */
export function logIdentityFromEnv(env: EnvReader): {
  readonly serviceName: string;
  readonly environment: string;
} {
  const attributes = parseKeyValueList(env.string('OTEL_RESOURCE_ATTRIBUTES'));
  return {
    serviceName:
      env.string('OTEL_SERVICE_NAME') ?? attributes['service.name'] ?? 'unknown_service:node',
    environment:
      env.string('MESKIT_ENV') ??
      attributes['deployment.environment.name'] ??
      attributes['deployment.environment'] ??
      env.string('NODE_ENV') ??
      DEFAULTS.environment,
  };
}

export function resolveLogs(options: TelemetryOptions, env: EnvReader): LogsConfig {
  let level: string;
  const levelOption = optionalString(options, 'logLevel');
  if (levelOption !== undefined) {
    if (!LOG_LEVELS.includes(levelOption))
      throw invalid('logLevel', `one of ${LOG_LEVELS.join(', ')}`, levelOption);
    level = levelOption;
  } else {
    level = logLevelFromEnv(env);
  }

  const formatOption: unknown = options.logFormat;
  if (formatOption !== undefined && !LOG_FORMATS.includes(formatOption as LogFormat)) {
    throw invalid('logFormat', `one of ${LOG_FORMATS.join(', ')}`, formatOption);
  }
  const format = (formatOption as LogFormat | undefined) ?? logFormatFromEnv(env);

  const loki = resolveLoki(options, env);

  let stdout = loki === undefined;
  const stdoutOption = optionalBoolean(options, 'logStdout');
  if (stdoutOption !== undefined) stdout = stdoutOption;
  else {
    stdout =
      env.boolean(
        'MESKIT_LOG_STDOUT',
        `${stdout ? 'writing' : 'not writing'} logs to stdout`,
        true,
      ) ?? stdout;
  }

  const redactKeys = options.redactKeys ?? [];
  if (
    !Array.isArray(redactKeys) ||
    !redactKeys.every((k) => typeof k === 'string' || k instanceof RegExp)
  ) {
    throw invalid('redactKeys', 'an array of strings or regular expressions', redactKeys);
  }
  return { level, format, stdout, loki, redactKeys };
}

function resolveLoki(options: TelemetryOptions, env: EnvReader): LokiConfig | undefined {
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
    lokiRaw = env.string('MESKIT_LOKI_URL');
  }
  if (lokiRaw === undefined) return undefined;
  if (!isHttpUrl(lokiRaw)) {
    env.report(
      'MESKIT_LOKI_URL',
      `MESKIT_LOKI_URL="${redactText(lokiRaw)}" is not an http(s) URL; logs are not shipped to Loki`,
    );
    return undefined;
  }
  const headers =
    options.lokiHeaders !== undefined
      ? stringRecord(options.lokiHeaders, 'lokiHeaders')
      : (env.keyValues('MESKIT_LOKI_HEADERS') ?? {});
  const batchIntervalMs =
    optionalInteger(options, 'lokiBatchIntervalMs', 1) ??
    env.integer('MESKIT_LOKI_BATCH_INTERVAL_MS', DEFAULTS.lokiBatchIntervalMs, 1, 'milliseconds');
  return {
    ...splitLokiUrl(lokiRaw),
    headers,
    batchIntervalMs,
    maxBufferedLines: DEFAULTS.lokiMaxBufferedLines,
    timeoutMs: DEFAULTS.lokiTimeoutMs,
  };
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
  // A base URL (`http://loki:3100`, or a gateway prefix) gets the push path; VictoriaLogs'
  // base (`http://victorialogs:9428/insert/loki`) gets `api/v1/push`; a full push URL is used
  // as given. The query string is kept either way (VictoriaLogs reads `_msg_field`,
  // `_stream_fields` and others from it).
  const path = url.pathname.replace(/\/+$/, '');
  if (path.endsWith(VICTORIALOGS_LOKI_BASE)) {
    url.pathname = `${path}/api/v1/push`;
  } else if (!path.endsWith(LOKI_PUSH_PATH)) {
    url.pathname = `${path}/${LOKI_PUSH_PATH}`;
  }
  return { pushUrl: url.href, basicAuth };
}
