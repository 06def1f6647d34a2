import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { TraceFlags } from '@opentelemetry/api';
import { Counter, collectDefaultMetrics, type Metric, type Registry } from 'prom-client';
import {
  isInternalServer,
  requestSpanContext,
  requestRoute,
  requestStart,
  setRequestStart,
} from './http-request-state.js';
import { RequestHistogram } from './request-histogram.js';
import { methodLabel, type RouteLabeler } from './route.js';

/** The RED histogram of HTTP server requests. */
export const HTTP_DURATION_METRIC = 'meskit_http_server_request_duration_seconds';
export const SPANS_EXPORTED_METRIC = 'meskit_otel_spans_exported_total';
export const SPANS_DROPPED_METRIC = 'meskit_otel_spans_dropped_total';
export const LOG_LINES_DROPPED_METRIC = 'meskit_otel_log_lines_dropped_total';

// Node publishes these for every http/https server request since v18.x/22 (the finish
// channel). Subscribing is what makes them cost anything: with no subscriber the publish
// is a `hasSubscribers` check.
const REQUEST_START = 'http.server.request.start';
const RESPONSE_FINISH = 'http.server.response.finish';

// A process-wide marker that Node's default metrics were registered on a registry, so a
// second copy of this package does not register them again (prom-client would throw).
const DEFAULT_METRICS_DONE = Symbol.for('meskit.otel-bootstrap.defaultMetrics');

export interface SelfMetrics {
  readonly spansExported: Counter<never>;
  readonly spansDropped: Counter<'reason'>;
  readonly logLinesDropped: Counter<'reason'>;
}

/** The counters telemetry keeps about itself; reused when another copy already created them. */
export function selfMetrics(registry: Registry): SelfMetrics {
  return {
    spansExported: reuse(
      registry,
      SPANS_EXPORTED_METRIC,
      () =>
        new Counter({
          name: SPANS_EXPORTED_METRIC,
          help: 'Spans delivered to the OTLP endpoint.',
          registers: [registry],
        }),
    ),
    spansDropped: reuse(
      registry,
      SPANS_DROPPED_METRIC,
      () =>
        new Counter({
          name: SPANS_DROPPED_METRIC,
          help: 'Spans lost: reason="queue_full" (the export queue was full) or "export_failed" (the endpoint did not take them).',
          labelNames: ['reason'] as const,
          registers: [registry],
        }),
    ),
    logLinesDropped: reuse(
      registry,
      LOG_LINES_DROPPED_METRIC,
      () =>
        new Counter({
          name: LOG_LINES_DROPPED_METRIC,
          help: 'Log lines that did not reach Loki: reason="push_failed".',
          labelNames: ['reason'] as const,
          registers: [registry],
        }),
    ),
  };
}

/** Registers Node's default metrics (CPU, memory, event loop lag, GC, handles) once per registry. */
export function ensureDefaultMetrics(registry: Registry): void {
  const marked = registry as Registry & { [DEFAULT_METRICS_DONE]?: true };
  if (marked[DEFAULT_METRICS_DONE] || registry.getSingleMetric('process_cpu_user_seconds_total')) {
    return;
  }
  collectDefaultMetrics({ register: registry });
  marked[DEFAULT_METRICS_DONE] = true;
}

export interface HttpServerMetricsOptions {
  readonly registry: Registry;
  readonly buckets: readonly number[];
  readonly routeLabel: RouteLabeler;
  /** Shortest time between two exemplars of one series and bucket. Default: 1000 ms. */
  readonly exemplarIntervalMs?: number;
  /** The clock of the exemplar throttle (tests). Default: performance.now. */
  readonly now?: () => number;
}

interface ServerRequestMessage {
  readonly request: IncomingMessage;
  readonly response: ServerResponse;
  readonly server?: unknown;
}

/**
 * Measures every http/https server request into `meskit_http_server_request_duration_seconds`
 * {method, route, status_code}, from Node's http diagnostics channels: nothing is wrapped, and
 * with metrics off nobody subscribes. Sampled requests leave their trace id as an exemplar.
 * Returns the unsubscriber.
 */
export function startHttpServerMetrics(options: HttpServerMetricsOptions): () => void {
  const { registry, routeLabel } = options;
  const now = options.now ?? (() => performance.now());
  const found: unknown = registry.getSingleMetric(HTTP_DURATION_METRIC);
  // Another copy of this package in the process registered it first: record into its series
  // (by duck type, as prom-client does across copies). Anything else of that name makes
  // registerMetric throw prom-client's "already registered" error.
  let histogram: RequestHistogram;
  if (isRequestHistogram(found)) {
    histogram = found;
  } else {
    // Exemplars: at most one per series and bucket per interval. prom-client keeps only the
    // last exemplar of each bucket, and a scrape every 15 s or more sees one of them at best.
    histogram = new RequestHistogram({
      name: HTTP_DURATION_METRIC,
      help: 'Duration of HTTP server requests, from the request line received to the last byte of the response handed to the OS.',
      buckets: options.buckets,
      exemplarIntervalMs: options.exemplarIntervalMs ?? 1000,
    });
    registry.registerMetric(histogram as unknown as Metric);
  }

  const onStart = (message: unknown): void => {
    const { request, server } = message as ServerRequestMessage;
    if (isInternalServer(server)) return;
    setRequestStart(request, now());
  };
  const onFinish = (message: unknown): void => {
    const { request, response } = message as ServerRequestMessage;
    const start = requestStart(request);
    if (start === undefined) return;
    const end = now();
    const value = (end - start) / 1000;
    const statusCode = response.statusCode;
    // The server span, which finishes first, already labelled the request (one normalisation
    // per request); without tracing the histogram labels it itself.
    const route = requestRoute(request) ?? routeLabel(request, statusCode);
    const series = histogram.series(methodLabel(request.method), route, statusCode);
    const bucket = histogram.observe(series, value);
    const spanContext = requestSpanContext(request);
    if (spanContext !== undefined && (spanContext.traceFlags & TraceFlags.SAMPLED) !== 0)
      histogram.offerExemplar(series, bucket, value, end, spanContext.traceId, spanContext.spanId);
  };
  subscribe(REQUEST_START, onStart);
  subscribe(RESPONSE_FINISH, onFinish);
  return () => {
    unsubscribe(REQUEST_START, onStart);
    unsubscribe(RESPONSE_FINISH, onFinish);
  };
}

function isRequestHistogram(metric: unknown): metric is RequestHistogram {
  const m = metric as Partial<RequestHistogram> | undefined;
  return (
    typeof m?.series === 'function' &&
    typeof m.observe === 'function' &&
    typeof m.offerExemplar === 'function'
  );
}

function reuse<T>(registry: Registry, name: string, create: () => T): T {
  // A second copy of this package in the process finds the first one's metric here; the
  // duck type is what prom-client itself relies on across copies.
  const existing = registry.getSingleMetric(name);
  return existing !== undefined ? (existing as unknown as T) : create();
}

interface MetricSample {
  readonly value: number;
  readonly labels?: Readonly<Record<string, string | number | undefined>>;
  readonly metricName?: string;
  readonly exemplar?: {
    readonly labelSet?: Readonly<Record<string, string | number>>;
    readonly value?: number | null;
    readonly timestamp?: number;
  } | null;
}

interface MetricData {
  readonly name: string;
  readonly help: string;
  readonly type: string;
  readonly values?: readonly MetricSample[];
}

/**
 * The registry in the OpenMetrics text format, with exemplars. prom-client can only print
 * OpenMetrics from a registry whose content type is OpenMetrics, and printing it renames the
 * registry's counters (drops `_total`) for good; rendering here leaves the shared registry
 * untouched and in the Prometheus format for everybody else.
 */
export async function renderOpenMetrics(registry: Registry): Promise<string> {
  // Default labels are private in prom-client's types; read them if present.
  const defaultLabels =
    (registry as unknown as { _defaultLabels?: Record<string, string | number> })._defaultLabels ??
    {};
  const metrics = registry.getMetricsAsArray() as unknown as { get(): Promise<MetricData> }[];
  const families = await Promise.all(metrics.map((metric) => metric.get()));
  const lines: string[] = [];
  for (const family of families) {
    const isCounter = family.type === 'counter';
    const name = isCounter ? family.name.replace(/_total$/, '') : family.name;
    lines.push(`# HELP ${name} ${escapeHelp(family.help)}`, `# TYPE ${name} ${family.type}`);
    for (const sample of family.values ?? []) {
      const sampleName = isCounter ? `${name}_total` : (sample.metricName ?? name);
      const labels = { ...defaultLabels, ...sample.labels };
      let line = `${sampleName}${formatLabels(labels)} ${formatValue(sample.value)}`;
      const exemplar = sample.exemplar;
      if (exemplar?.labelSet && typeof exemplar.value === 'number') {
        line += ` # ${formatLabels(exemplar.labelSet) || '{}'} ${formatValue(exemplar.value)}`;
        if (typeof exemplar.timestamp === 'number') line += ` ${exemplar.timestamp}`;
      }
      lines.push(line);
    }
  }
  lines.push('# EOF');
  return `${lines.join('\n')}\n`;
}

function formatLabels(labels: Readonly<Record<string, string | number | undefined>>): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(labels)) {
    if (value === undefined) continue;
    parts.push(`${key}="${escapeLabelValue(String(value))}"`);
  }
  return parts.length > 0 ? `{${parts.join(',')}}` : '';
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function escapeHelp(help: string): string {
  return help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}
