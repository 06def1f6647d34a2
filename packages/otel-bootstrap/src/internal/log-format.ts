// The two shapes of the root logger's lines. `pino` is pino's own JSON (`level`, `time`, `msg`,
// `trace_id`), what the package always wrote. `ecs` is Elastic Common Schema for Filebeat:
// `@timestamp`, `log.level`, `message`, `ecs.version`, `service.name`, `trace.id`/`span.id`,
// `error.*`, built by Elastic's own pino formatter (@elastic/ecs-pino-format, see
// docs/decisions/0010-ecs-logs-with-elastics-pino-format.md) around our redaction and trace mixin.
import { hostname } from 'node:os';
import { ecsFormat } from '@elastic/ecs-pino-format';
import { context, isSpanContextValid, trace } from '@opentelemetry/api';
import { pino, type Bindings, type LoggerOptions } from 'pino';
import type { LogFormat } from './config/logs.js';
import type { Redactor } from './redact.js';

/** Read on every line, so startTelemetry() can install the configured redaction later. */
export interface LineSettings {
  redactor: Redactor;
}

/** `service` and `env` of the lines; unknown before telemetry starts (pino format). */
export interface LineIdentity {
  readonly serviceName?: string;
  readonly environment?: string;
}

type Fields = Record<string, unknown>;
type LogFormatter = (object: Fields) => Fields;
type BindingsFormatter = (bindings: Bindings) => Fields;
type LevelFormatter = (label: string, level: number) => Fields;

// Returned by the mixins outside any span. pino merges mixin output into the line with
// Object.assign(mixinResult, logObject); our merge strategy returns the log object untouched
// for this marker, so lines outside spans cost no allocation.
const NO_TRACE: Record<string, never> = Object.freeze({}) as Record<string, never>;

/**
 * pino options of the root logger in `format`: base fields, trace mixin, redaction of values
 * (formatters, serializers) and of the finished line (streamWrite hook). `level` is set by the
 * caller.
 */
export function rootLoggerOptions(
  format: LogFormat,
  settings: LineSettings,
  identity: LineIdentity,
): LoggerOptions {
  const common = {
    mixinMergeStrategy: (logObject: object, mixinObject: object) =>
      mixinObject === NO_TRACE ? logObject : Object.assign(mixinObject, logObject),
    serializers: {
      err: (err: Error) => settings.redactor.value(pino.stdSerializers.err(err)),
      req: (req: Parameters<typeof pino.stdSerializers.req>[0]) =>
        settings.redactor.value(pino.stdSerializers.req(req)),
      res: (res: Parameters<typeof pino.stdSerializers.res>[0]) =>
        settings.redactor.value(pino.stdSerializers.res(res)),
    },
    hooks: {
      streamWrite: (line: string) => settings.redactor.line(line),
    },
  };
  if (format === 'pino') {
    return {
      ...common,
      // `host`, not pino's `hostname`: pino-loki turns a `hostname` field into a Loki label.
      base: {
        pid: process.pid,
        host: hostname(),
        ...(identity.serviceName !== undefined ? { service: identity.serviceName } : {}),
        ...(identity.environment !== undefined ? { env: identity.environment } : {}),
      },
      mixin: pinoTraceFields,
      formatters: {
        log: (object: Fields) => settings.redactor.value(object),
        bindings: (bindings: Bindings) => settings.redactor.value(bindings),
      },
    };
  }
  return { ...common, ...ecsOptions(settings, identity) };
}

function ecsOptions(settings: LineSettings, identity: LineIdentity): LoggerOptions {
  const ecs = ecsFormat({
    // Trace ids come from OpenTelemetry (our mixin), not from Elastic's APM agent.
    apmIntegration: false,
    convertErr: true,
    ...(identity.serviceName !== undefined ? { serviceName: identity.serviceName } : {}),
    ...(identity.environment !== undefined ? { serviceEnvironment: identity.environment } : {}),
  });
  const formatters = ecs.formatters as {
    level: LevelFormatter;
    bindings: BindingsFormatter;
    log: LogFormatter;
  };
  // The fields Elastic's formatter adds to every set of bindings it formats (ecs.version,
  // service.name, service.environment, event.dataset). pino formats the base bindings with it,
  // and those of a setBindings() call, which are appended to the base: added again there, they
  // would be duplicate keys, which Elasticsearch refuses. (A child's bindings skip the bindings
  // formatter: pino resets it for children.)
  const staticKeys = Object.keys(formatters.bindings({}));
  let baseDone = false;
  return {
    messageKey: ecs.messageKey ?? 'message',
    ...(ecs.timestamp !== undefined ? { timestamp: ecs.timestamp } : {}),
    // pid and hostname become process.pid and host.hostname (ECS fields) in the formatter.
    base: { pid: process.pid, hostname: hostname() },
    mixin: ecsTraceFields,
    formatters: {
      level: formatters.level,
      bindings: (bindings: Bindings) => {
        const formatted = formatters.bindings(bindings);
        if (baseDone) for (const key of staticKeys) delete formatted[key];
        baseDone = true;
        return settings.redactor.value(formatted);
      },
      // Redaction first: it keeps an Error an Error (message and stack masked), which the ECS
      // formatter then turns into error.type, error.message and error.stack_trace.
      log: (object: Fields) => formatters.log(settings.redactor.value(object)),
    },
  };
}

/** trace_id, span_id and trace_flags of the active span, the field names instrumentation-pino uses. */
function pinoTraceFields(): Record<string, string> {
  const span = trace.getSpan(context.active());
  if (span === undefined) return NO_TRACE;
  const spanContext = span.spanContext();
  if (!isSpanContextValid(spanContext)) return NO_TRACE;
  return {
    trace_id: spanContext.traceId,
    span_id: spanContext.spanId,
    trace_flags: spanContext.traceFlags.toString(16).padStart(2, '0'),
  };
}

/** ECS's trace.id and span.id of the active span (ECS has no field for the flags). */
function ecsTraceFields(): Record<string, string> {
  const span = trace.getSpan(context.active());
  if (span === undefined) return NO_TRACE;
  const spanContext = span.spanContext();
  if (!isSpanContextValid(spanContext)) return NO_TRACE;
  return { 'trace.id': spanContext.traceId, 'span.id': spanContext.spanId };
}

/** The trace mixin of `format`, to restore it when a patched pino combined it with its own. */
export function traceMixin(format: LogFormat): () => Record<string, string> {
  return format === 'pino' ? pinoTraceFields : ecsTraceFields;
}

const ECS_LEVEL_PREFIX = '{"log.level":"';
const ECS_TIMESTAMP_KEY = ',"@timestamp":"';

/**
 * The Loki copy of an ECS line: the same document, opened by pino's numeric `level` and epoch
 * ms `time`, from which pino-loki takes the `level` label and the entry's timestamp (without
 * them every line would be labelled `info` and stamped with the push time). Cheap string work
 * on the line pino just rendered: `log.level` and `@timestamp` always open an ECS line.
 */
export function ecsLineForLoki(line: string): string {
  if (!line.startsWith(ECS_LEVEL_PREFIX)) return line;
  const labelEnd = line.indexOf('"', ECS_LEVEL_PREFIX.length);
  const level = pino.levels.values[line.slice(ECS_LEVEL_PREFIX.length, labelEnd)];
  const timestampStart = labelEnd + 1;
  let time = Number.NaN;
  if (line.startsWith(ECS_TIMESTAMP_KEY, timestampStart)) {
    const isoStart = timestampStart + ECS_TIMESTAMP_KEY.length;
    time = Date.parse(line.slice(isoStart, line.indexOf('"', isoStart)));
  }
  const fields = `${level !== undefined ? `"level":${level},` : ''}${Number.isFinite(time) ? `"time":${time},` : ''}`;
  return `{${fields}${line.slice(1)}`;
}
