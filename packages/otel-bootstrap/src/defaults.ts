/**
 * Defaults of every setting, in one place (see README "Options"). An option given in code
 * wins over its env var, which wins over the value here.
 */
export const DEFAULTS = {
  /** OTLP/HTTP traces URL when neither an option nor OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT is set. */
  otlpTracesUrl: 'http://localhost:4318/v1/traces',
  /** Zipkin v2 spans URL when neither an option nor OTEL_EXPORTER_ZIPKIN_ENDPOINT is set (the spec's default). */
  zipkinUrl: 'http://localhost:9411/api/v2/spans',
  /** Span queue of the batch processor; beyond it spans are dropped and counted (OTEL_BSP_MAX_QUEUE_SIZE). */
  maxQueueSize: 2048,
  /** Spans per export request (OTEL_BSP_MAX_EXPORT_BATCH_SIZE). */
  maxExportBatchSize: 512,
  /** Delay between two scheduled exports, ms (OTEL_BSP_SCHEDULE_DELAY). */
  scheduledDelayMs: 5_000,
  /** Time limit of one export, ms (OTEL_BSP_EXPORT_TIMEOUT). */
  exportTimeoutMs: 30_000,
  /** Time limit of one OTLP request, ms (OTEL_EXPORTER_OTLP_TIMEOUT, the spec's default). */
  otlpRequestTimeoutMs: 10_000,
  /** Port of the `/metrics` server (MESKIT_METRICS_PORT); 0 picks a free port. */
  metricsPort: 9464,
  /** Interface the `/metrics` server binds (MESKIT_METRICS_HOST): loopback, so it is never exposed by accident. */
  metricsHost: '127.0.0.1',
  /** Distinct `route` label values before new ones are reported as `other`. */
  maxRoutes: 100,
  /** Buckets of `meskit_http_server_request_duration_seconds`, in seconds. */
  httpDurationBuckets: [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
  ] as readonly number[],
  /** pino level of the root logger (MESKIT_LOG_LEVEL). */
  logLevel: 'info',
  /** Shape of the root logger's lines (MESKIT_LOG_FORMAT): pino's JSON; `ecs` for Elastic Common Schema. */
  logFormat: 'pino' as 'pino' | 'ecs',
  /** How often batched log lines are pushed to Loki, ms (MESKIT_LOKI_BATCH_INTERVAL_MS). */
  lokiBatchIntervalMs: 1_000,
  /** Log lines buffered for Loki; beyond it the oldest are dropped (pino-loki's policy). */
  lokiMaxBufferedLines: 10_000,
  /** Time limit of one Loki push, ms. */
  lokiTimeoutMs: 10_000,
  /** Longest a shutdown (or the flush on a signal) waits for exporters, ms. */
  shutdownTimeoutMs: 5_000,
  /** Value of the Loki `env` label when MESKIT_ENV, the resource attributes and NODE_ENV say nothing. */
  environment: 'development',
} as const;
