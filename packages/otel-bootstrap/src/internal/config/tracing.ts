// Tracing settings: export on or off, where to, how (headers, compression, timeouts), the
// sampler, the batch bounds, the instrumentations, and the span limits of the lean tracer.
import { readFileSync } from 'node:fs';
import { getNumberFromEnv } from '@opentelemetry/core';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import type { Sampler } from '@opentelemetry/sdk-trace';
import { DEFAULTS } from '../../defaults.js';
import type {
  InstrumentationOptions,
  TelemetryOptions,
  TracesExporterName,
} from '../../options.js';
import type { OtlpTls } from '../otlp-worker.js';
import { redactText } from '../redact.js';
import { samplerFromEnv } from '../sampler.js';
import {
  invalid,
  isHttpUrl,
  isPlainRecord,
  optionalBoolean,
  optionalInteger,
  optionalString,
  stringRecord,
} from './checks.js';
import type { EnvReader } from './env.js';

export interface TracingConfig {
  readonly enabled: boolean;
  /** Why tracing is off, for the handle and the docs; undefined when on. */
  readonly disabledBy: string | undefined;
  /** Where spans go: one or both, never empty. */
  readonly exporters: readonly TracesExporterName[];
  /** The OTLP/HTTP traces URL. */
  readonly url: string;
  /** The Zipkin v2 spans URL. */
  readonly zipkinUrl: string;
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
  /** The CA, client certificate and key of an https OTLP endpoint, read from their files. */
  readonly tls: OtlpTls;
  readonly instrumentations: InstrumentationOptions;
  readonly extraInstrumentations: readonly Instrumentation[];
}

const INSTRUMENTATION_NAMES = ['http', 'pg', 'amqplib', 'ioredis', 'pino'] as const;
const EXPORTERS: readonly TracesExporterName[] = ['otlp', 'zipkin'];

/** The spec's certificate variables: the traces one wins over the general one. */
const TLS_FILES = [
  ['ca', 'CERTIFICATE'],
  ['cert', 'CLIENT_CERTIFICATE'],
  ['key', 'CLIENT_KEY'],
] as const;

/**
 * PEM files of OTEL_EXPORTER_OTLP_(TRACES_)CERTIFICATE, ..._CLIENT_CERTIFICATE and
 * ..._CLIENT_KEY, read once at start. One that cannot be read is reported and left out: the
 * endpoint's certificate is then checked against Node's CAs (NODE_EXTRA_CA_CERTS included),
 * and an export to a private CA fails with the verification error, counted and warned.
 */
function resolveOtlpTls(env: EnvReader): OtlpTls {
  const tls: { ca?: string; cert?: string; key?: string } = {};
  for (const [field, suffix] of TLS_FILES) {
    const variable =
      env.string(`OTEL_EXPORTER_OTLP_TRACES_${suffix}`) !== undefined
        ? `OTEL_EXPORTER_OTLP_TRACES_${suffix}`
        : `OTEL_EXPORTER_OTLP_${suffix}`;
    const file = env.string(variable);
    if (file === undefined || file.trim() === '') continue;
    try {
      tls[field] = readFileSync(file, 'utf8');
    } catch (err) {
      env.report(
        variable,
        `${variable}="${file}" cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)}); exporting without it`,
      );
    }
  }
  return tls;
}

function isExporterName(name: unknown): name is TracesExporterName {
  return (EXPORTERS as readonly unknown[]).includes(name);
}

export function resolveTracing(options: TelemetryOptions, env: EnvReader): TracingConfig {
  const tracingOption = optionalBoolean(options, 'tracing');
  let disabledBy: string | undefined;
  // OTEL_SDK_DISABLED is the operator's kill switch: it wins even over `tracing: true` in
  // code, as it does for the OpenTelemetry SDK itself.
  if (env.boolean('OTEL_SDK_DISABLED', 'tracing stays on') === true) {
    disabledBy = 'OTEL_SDK_DISABLED=true';
  }
  if (disabledBy === undefined && tracingOption === false) disabledBy = 'the tracing option';
  const exporterNames = env.string('OTEL_TRACES_EXPORTER');
  let exporters: TracesExporterName[] = ['otlp'];
  const exporterOption = options.tracesExporter;
  if (exporterOption !== undefined) {
    const given: unknown[] = Array.isArray(exporterOption) ? exporterOption : [exporterOption];
    if (given.length === 0 || !given.every(isExporterName))
      throw invalid(
        'tracesExporter',
        `one of ${EXPORTERS.join(', ')}, or a non-empty list of them`,
        exporterOption,
      );
    exporters = [...new Set(given as TracesExporterName[])];
  } else if (exporterNames !== undefined && exporterNames.trim() !== '') {
    const names = exporterNames.split(',').map((name) => name.trim().toLowerCase());
    if (names.includes('none')) {
      if (disabledBy === undefined && tracingOption === undefined)
        disabledBy = 'OTEL_TRACES_EXPORTER=none';
    } else {
      const known = [...new Set(names.filter(isExporterName))];
      if (known.length < names.length)
        env.report(
          'OTEL_TRACES_EXPORTER',
          `OTEL_TRACES_EXPORTER="${exporterNames}": only ${EXPORTERS.join(', ')} and none are supported; exporting with ${known.length > 0 ? known.join(', ') : 'otlp'}`,
        );
      if (known.length > 0) exporters = known;
    }
  }

  let zipkinUrl: string = DEFAULTS.zipkinUrl;
  const zipkinOption = optionalString(options, 'zipkinUrl');
  if (zipkinOption !== undefined) {
    if (!isHttpUrl(zipkinOption))
      throw invalid('zipkinUrl', 'an http:// or https:// URL', redactText(zipkinOption));
    zipkinUrl = zipkinOption;
  } else {
    const fromEnv = env.string('OTEL_EXPORTER_ZIPKIN_ENDPOINT');
    if (fromEnv !== undefined) {
      if (isHttpUrl(fromEnv)) zipkinUrl = fromEnv;
      else if (exporters.includes('zipkin')) {
        env.report(
          'OTEL_EXPORTER_ZIPKIN_ENDPOINT',
          `OTEL_EXPORTER_ZIPKIN_ENDPOINT="${redactText(fromEnv)}" is not an http(s) URL; spans are not exported (fix the variable, e.g. http://zipkin:9411/api/v2/spans)`,
        );
        if (disabledBy === undefined) disabledBy = 'an invalid OTEL_EXPORTER_ZIPKIN_ENDPOINT';
      }
    }
  }

  const protocol =
    env.string('OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') ?? env.string('OTEL_EXPORTER_OTLP_PROTOCOL');
  if (protocol !== undefined && !['http/json', 'http/protobuf'].includes(protocol.toLowerCase())) {
    // http/protobuf is accepted silently: every OTLP/HTTP receiver takes JSON on the same path.
    env.report(
      'OTEL_EXPORTER_OTLP_PROTOCOL',
      `OTLP protocol "${protocol}" is not supported: spans are sent as OTLP/HTTP JSON (point the endpoint at the collector's HTTP port, usually 4318)`,
    );
  }

  let url: string = DEFAULTS.otlpTracesUrl;
  const urlOption = optionalString(options, 'otlpTracesUrl');
  if (urlOption !== undefined) {
    if (!isHttpUrl(urlOption))
      throw invalid('otlpTracesUrl', 'an http:// or https:// URL', redactText(urlOption));
    url = urlOption;
  } else {
    const specific = env.string('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
    const general = env.string('OTEL_EXPORTER_OTLP_ENDPOINT');
    const [variable, candidate] =
      specific !== undefined
        ? ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', specific]
        : general !== undefined
          ? ['OTEL_EXPORTER_OTLP_ENDPOINT', `${general.replace(/\/+$/, '')}/v1/traces`]
          : [undefined, undefined];
    if (variable !== undefined && candidate !== undefined) {
      if (isHttpUrl(candidate)) url = candidate;
      else {
        env.report(
          variable,
          `${variable}="${redactText(specific ?? general ?? '')}" is not an http(s) URL; spans are not exported (fix the variable, e.g. http://collector:4318)`,
        );
        if (disabledBy === undefined && exporters.includes('otlp'))
          disabledBy = `an invalid ${variable}`;
      }
    }
  }

  // The general variable, then the traces one, then the option: the more specific wins.
  let headers: Record<string, string> | undefined;
  for (const variable of ['OTEL_EXPORTER_OTLP_HEADERS', 'OTEL_EXPORTER_OTLP_TRACES_HEADERS']) {
    const fromVariable = env.keyValues(variable);
    if (fromVariable !== undefined) headers = { ...headers, ...fromVariable };
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
      env.string('OTEL_TRACES_SAMPLER'),
      env.string('OTEL_TRACES_SAMPLER_ARG'),
    );
    sampler = fromVars.sampler;
    samplerDescription = fromVars.description;
    for (const problem of fromVars.problems) env.report(problem.variable, problem.message);
  }

  // The option, else the variable, else the default.
  const bspNumber = (
    option: keyof TelemetryOptions,
    variable: string,
    fallback: number,
    min: number,
  ): number => optionalInteger(options, option, min) ?? env.integer(variable, fallback, min);
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
    env.string('OTEL_EXPORTER_OTLP_TRACES_TIMEOUT') !== undefined
      ? 'OTEL_EXPORTER_OTLP_TRACES_TIMEOUT'
      : 'OTEL_EXPORTER_OTLP_TIMEOUT';
  const requestTimeoutMs = Math.min(
    bspNumber('exportTimeoutMs', requestTimeoutVariable, DEFAULTS.otlpRequestTimeoutMs, 1),
    exportTimeoutMs,
  );
  const compression = (
    env.string('OTEL_EXPORTER_OTLP_TRACES_COMPRESSION') ??
    env.string('OTEL_EXPORTER_OTLP_COMPRESSION')
  )?.toLowerCase();

  return {
    enabled: disabledBy === undefined,
    disabledBy,
    exporters,
    url,
    zipkinUrl,
    headers,
    sampler,
    samplerDescription,
    maxQueueSize,
    maxExportBatchSize,
    scheduledDelayMs,
    exportTimeoutMs,
    requestTimeoutMs,
    gzip: compression === 'gzip',
    tls: resolveOtlpTls(env),
    instrumentations: resolveInstrumentations(options),
    extraInstrumentations: resolveExtraInstrumentations(options),
  };
}

function resolveInstrumentations(options: TelemetryOptions): InstrumentationOptions {
  const instrumentations: InstrumentationOptions = {};
  if (options.instrumentations === undefined) return instrumentations;
  if (!isPlainRecord(options.instrumentations)) {
    throw invalid('instrumentations', 'an object such as { pg: false }', options.instrumentations);
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
  return Object.assign(instrumentations, options.instrumentations);
}

function resolveExtraInstrumentations(options: TelemetryOptions): readonly Instrumentation[] {
  const extraInstrumentations = options.extraInstrumentations ?? [];
  if (!Array.isArray(extraInstrumentations)) {
    throw invalid(
      'extraInstrumentations',
      'an array of OpenTelemetry instrumentations',
      extraInstrumentations,
    );
  }
  return extraInstrumentations;
}

/** The lean tracer's span limits (lean-tracer.ts). */
export interface SpanLimits {
  readonly attributeCountLimit: number;
  readonly attributeValueLengthLimit: number;
  readonly eventCountLimit: number;
  readonly linkCountLimit: number;
  readonly attributePerEventCountLimit: number;
  readonly attributePerLinkCountLimit: number;
}

const DEFAULT_COUNT_LIMIT = 128;

/**
 * Span limits from OTEL_SPAN_* / OTEL_ATTRIBUTE_* / OTEL_EVENT_* / OTEL_LINK_*, the SDK's
 * defaults otherwise. Read with core's getNumberFromEnv, as the SDK reads them, so each
 * variable means what it meant with the SDK's tracer.
 */
export function spanLimitsFromEnv(): SpanLimits {
  const attributeCountLimit =
    getNumberFromEnv('OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT') ??
    getNumberFromEnv('OTEL_ATTRIBUTE_COUNT_LIMIT') ??
    DEFAULT_COUNT_LIMIT;
  const valueLength =
    getNumberFromEnv('OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT') ??
    getNumberFromEnv('OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT') ??
    Infinity;
  return {
    attributeCountLimit,
    // Zero or less means no limit (the SDK warns and ignores it too).
    attributeValueLengthLimit: valueLength > 0 ? valueLength : Infinity,
    eventCountLimit: getNumberFromEnv('OTEL_SPAN_EVENT_COUNT_LIMIT') ?? DEFAULT_COUNT_LIMIT,
    linkCountLimit: getNumberFromEnv('OTEL_SPAN_LINK_COUNT_LIMIT') ?? DEFAULT_COUNT_LIMIT,
    attributePerEventCountLimit:
      getNumberFromEnv('OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT') ?? DEFAULT_COUNT_LIMIT,
    attributePerLinkCountLimit:
      getNumberFromEnv('OTEL_LINK_ATTRIBUTE_COUNT_LIMIT') ?? DEFAULT_COUNT_LIMIT,
  };
}
