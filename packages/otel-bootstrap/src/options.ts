import type { IncomingMessage } from 'node:http';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import type { AmqplibInstrumentationConfig } from '@opentelemetry/instrumentation-amqplib';
import type { HttpInstrumentationConfig } from '@opentelemetry/instrumentation-http';
import type { IORedisInstrumentationConfig } from '@opentelemetry/instrumentation-ioredis';
import type { PgInstrumentationConfig } from '@opentelemetry/instrumentation-pg';
import type { PinoInstrumentationConfig } from '@opentelemetry/instrumentation-pino';
import type { Sampler } from '@opentelemetry/sdk-trace';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';

/**
 * Maps a request path to a low-cardinality route label such as `/orders/:id`. Return
 * `undefined` to fall back to the built-in normaliser for this request. Whatever it returns,
 * at most `maxRoutes` distinct values are kept; later ones are reported as `other`.
 */
/** A span exporter this package implements (OTEL_TRACES_EXPORTER's values, less `none`). */
export type TracesExporterName = 'otlp' | 'zipkin';

export type NormalizeRoute = (path: string, request: IncomingMessage) => string | undefined;

/**
 * Which instrumentations load. Each is on by default; `false` turns it off, an object turns
 * it on with that configuration (for `http`, our own hooks run before the ones given here).
 * fs, dns and net are never loaded: they produce a span per syscall and drown the useful ones.
 */
export interface InstrumentationOptions {
  /** node:http/https server and client spans. Default: true. */
  http?: boolean | HttpInstrumentationConfig;
  /** PostgreSQL (`pg`, `pg-pool`) query spans; connect spans only with `{ ignoreConnectSpans: false }`. Default: true. */
  pg?: boolean | PgInstrumentationConfig;
  /** RabbitMQ (`amqplib`) publish/consume spans; carries W3C trace context in message headers. Default: true. */
  amqplib?: boolean | AmqplibInstrumentationConfig;
  /** Redis (`ioredis`) command spans. Default: true. */
  ioredis?: boolean | IORedisInstrumentationConfig;
  /** trace_id/span_id/trace_flags on the lines of the application's own pino loggers, and with Loki configured those lines shipped to Loki too (log sending; `{ disableLogSending: true }` keeps them out). Default: true. */
  pino?: boolean | PinoInstrumentationConfig;
}

/** Options of `startTelemetry()`. Every one is optional; env vars fill in what is not given. */
export interface TelemetryOptions {
  /** `service.name` of traces and the `service` label of logs. Default: env OTEL_SERVICE_NAME, else `service.name` in OTEL_RESOURCE_ATTRIBUTES, else `unknown_service:node`. */
  serviceName?: string;
  /** The `env` label of logs (and `deployment.environment.name` of traces when given). Default: env MESKIT_ENV, else `deployment.environment(.name)` in OTEL_RESOURCE_ATTRIBUTES, else NODE_ENV, else `development`. */
  environment?: string;
  /** Extra resource attributes of traces, over OTEL_RESOURCE_ATTRIBUTES. Default: none. */
  resourceAttributes?: Readonly<Record<string, string | number | boolean>>;

  /** Export traces. Default: true, unless env OTEL_TRACES_EXPORTER=none. Env OTEL_SDK_DISABLED=true turns tracing off even when this is true (the operator's kill switch). */
  tracing?: boolean;
  /** Full OTLP/HTTP traces URL (`http://collector:4318/v1/traces`). Default: env OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else OTEL_EXPORTER_OTLP_ENDPOINT + `/v1/traces`, else `http://localhost:4318/v1/traces`. */
  otlpTracesUrl?: string;
  /** Headers of every export request (auth of a managed backend), over env OTEL_EXPORTER_OTLP_(TRACES_)HEADERS. Default: none. */
  otlpHeaders?: Readonly<Record<string, string>>;
  /** Where spans go: `otlp`, `zipkin`, or both. Default: env OTEL_TRACES_EXPORTER (a comma-separated list), else `otlp`. */
  tracesExporter?: TracesExporterName | readonly TracesExporterName[];
  /** Zipkin v2 spans URL (`http://zipkin:9411/api/v2/spans`), used when Zipkin is an exporter. Default: env OTEL_EXPORTER_ZIPKIN_ENDPOINT, else `http://localhost:9411/api/v2/spans`. */
  zipkinUrl?: string;
  /** Sampler. Default: from env OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG, else `parentbased_always_on`. */
  sampler?: Sampler;
  /** Spans buffered for export; beyond it spans are dropped and counted. Default: env OTEL_BSP_MAX_QUEUE_SIZE, else 2048. */
  maxQueueSize?: number;
  /** Spans per export request. Default: env OTEL_BSP_MAX_EXPORT_BATCH_SIZE, else 512 (at most `maxQueueSize`). */
  maxExportBatchSize?: number;
  /** Delay between scheduled exports, ms. Default: env OTEL_BSP_SCHEDULE_DELAY, else 5000. */
  scheduledDelayMs?: number;
  /** Time limit of one export, ms. Default: env OTEL_BSP_EXPORT_TIMEOUT, else 30000. */
  exportTimeoutMs?: number;
  /** Instrumentations to load. Default: http, pg, amqplib, ioredis and pino, all on. */
  instrumentations?: InstrumentationOptions;
  /** More OpenTelemetry instrumentations to register beside ours. Default: none. */
  extraInstrumentations?: readonly Instrumentation[];

  /** Port of the `/metrics` server; 0 picks a free one; `false` serves nothing (metrics are still recorded). Default: env MESKIT_METRICS_PORT (`off` = false), else 9464. */
  metricsPort?: number | false;
  /** Interface the `/metrics` server binds. Default: env MESKIT_METRICS_HOST, else `127.0.0.1`. */
  metricsHost?: string;
  /** Node.js default metrics (CPU, memory, event loop lag, GC, handles). Default: true. */
  defaultMetrics?: boolean;
  /** `meskit_http_server_request_duration_seconds`, measured from Node's http diagnostics channels. Default: true. */
  httpServerMetrics?: boolean;
  /** Route label of the HTTP histogram (and `http.route` of server spans). Default: the built-in normaliser (numeric, UUID and long hex segments become `:id`). */
  normalizeRoute?: NormalizeRoute;
  /** Distinct route labels kept; later new routes are labelled `other`. Default: 100. */
  maxRoutes?: number;
  /** Buckets of the HTTP duration histogram, seconds, ascending. Default: 0.005 … 10 (11 buckets). */
  httpDurationBuckets?: readonly number[];

  /** Level of the root logger. Default: env MESKIT_LOG_LEVEL, else `info`. */
  logLevel?: string;
  /** Shape of the root logger's lines: `pino` (pino's JSON: `level`, `time`, `msg`, `trace_id`) or `ecs` (Elastic Common Schema for Filebeat: `@timestamp`, `log.level`, `message`, `trace.id`, `error.*`). The application's own pino loggers are not reformatted. Default: env MESKIT_LOG_FORMAT, else `pino`. */
  logFormat?: 'pino' | 'ecs';
  /** Write log lines as JSON to stdout. Default: env MESKIT_LOG_STDOUT, else true unless Loki is configured. */
  logStdout?: boolean;
  /** Loki base URL (`http://loki:3100`) or full push URL (VictoriaLogs: `http://victorialogs:9428/insert/loki/api/v1/push`, query string kept); user:password in it becomes basic auth; `false` turns Loki off. Default: env MESKIT_LOKI_URL, else off. */
  lokiUrl?: string | false;
  /** Headers of every Loki push (e.g. `X-Scope-OrgID`). Default: env MESKIT_LOKI_HEADERS (`k=v,k2=v2`), else none. */
  lokiHeaders?: Readonly<Record<string, string>>;
  /** How often batched lines are pushed to Loki, ms. Default: env MESKIT_LOKI_BATCH_INTERVAL_MS, else 1000. */
  lokiBatchIntervalMs?: number;
  /** More keys whose values are masked in log lines, beside the built-in ones (authorization, cookie, password, secret, token, ...). A string matches a key case-insensitively. Default: none. */
  redactKeys?: readonly (string | RegExp)[];

  /** Flush on SIGTERM/SIGINT and when the event loop empties (see README "Shutdown"). Default: true. */
  handleSignals?: boolean;
  /** Longest a shutdown (and so the exit after SIGTERM) waits for exporters, ms. Default: env MESKIT_TELEMETRY_SHUTDOWN_TIMEOUT_MS, else 5000. */
  shutdownTimeoutMs?: number;
}

/** What `startTelemetry()` returns. Safe to keep for the life of the process. */
export interface Telemetry {
  /** The resolved `service.name` (also the `service` label of logs). */
  readonly serviceName: string;
  /** The resolved `env` label of logs. */
  readonly environment: string;
  /** True when spans are being exported (tracing on, the SDK started, no foreign SDK). */
  readonly tracing: boolean;
  /** The shared prom-client registry (same as `getRegistry()`). */
  readonly registry: Registry;
  /** The root logger (same as `getLogger()`). */
  readonly logger: Logger;
  /**
   * Resolves once the `/metrics` server listens, with its URL (`http://127.0.0.1:9464/metrics`),
   * or with `undefined` when it is off or could not listen (a warning said why).
   */
  metricsUrl(): Promise<string | undefined>;
  /** Exports buffered spans and log lines now. Never rejects. */
  flush(): Promise<void>;
  /**
   * Flushes, then stops exporting and serving (bounded by `shutdownTimeoutMs`). Safe to call
   * more than once: later calls return the first call's promise. Never rejects.
   */
  shutdown(): Promise<void>;
  /** Same as `shutdown()`, for code that closes handles uniformly. */
  close(): Promise<void>;
}
