// The only place that touches the OpenTelemetry SDK. Everything here is created in
// startTracing(), never at import, so importing the package costs no hooks and no timers.
import { IncomingMessage } from 'node:http';
import {
  createNoopMeter,
  type Attributes,
  type Counter as OtelCounter,
  type Meter,
  type MeterProvider,
} from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import { AmqplibInstrumentation } from '@opentelemetry/instrumentation-amqplib';
import {
  HttpInstrumentation,
  type HttpInstrumentationConfig,
} from '@opentelemetry/instrumentation-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { PinoInstrumentation } from '@opentelemetry/instrumentation-pino';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace';
import type { InstrumentationOptions } from '../options.js';
import { AppLogForwarder } from './app-logs.js';
import type { ResolvedConfig } from './config.js';
import {
  isInternalServer,
  requestRoute,
  serverOf,
  setRequestSpanContext,
} from './http-request-state.js';
import type { SelfMetrics } from './metrics.js';
import { OTHER, type RouteLabeler } from './route.js';
import { redactText } from './redact.js';
import { describe, warn, warnOnce } from './warn.js';

export interface Tracing {
  /** True when spans are exported. */
  readonly active: boolean;
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

const INACTIVE: Tracing = {
  active: false,
  forceFlush: () => Promise.resolve(),
  shutdown: () => Promise.resolve(),
};

// The @opentelemetry/api 1.x global; set once any SDK registered a provider.
const OTEL_API_GLOBAL = Symbol.for('opentelemetry.js.api.1');

export interface TracingDeps {
  readonly selfMetrics: SelfMetrics;
  /** Route labels shared with the HTTP histogram, for span names such as `GET /orders/:id`. */
  readonly routeLabel: RouteLabeler;
}

/** Starts the SDK with our exporter, processor, sampler and instrumentations. */
export function startTracing(config: ResolvedConfig, deps: TracingDeps): Tracing {
  const tracing = config.tracing;
  if (!tracing.enabled) return INACTIVE;
  if (foreignTracerProviderRegistered()) {
    warnOnce(
      'MESKIT_OTEL_FOREIGN_SDK',
      'another OpenTelemetry SDK already registered a tracer provider in this process; @meskit/otel-bootstrap leaves it in charge and exports no traces itself (metrics and logs still work). Remove one of the two setups',
    );
    return INACTIVE;
  }

  const exporter = new MonitoredExporter(
    new OTLPTraceExporter({
      url: tracing.url,
      ...(tracing.headers ? { headers: { ...tracing.headers } } : {}),
    }),
    redactText(tracing.url),
    deps.selfMetrics,
  );
  const processor = new BatchSpanProcessor({
    exporter,
    maxQueueSize: tracing.maxQueueSize,
    maxExportBatchSize: tracing.maxExportBatchSize,
    scheduledDelayMillis: tracing.scheduledDelayMs,
    exportTimeoutMillis: tracing.exportTimeoutMs,
    // The processor reports spans it drops on a full queue only through this experimental
    // self-observability hook; it is how we count them without reaching into its internals.
    selfObsMeterProvider: queueDropMeterProvider(deps.selfMetrics, tracing.maxQueueSize),
  });

  // The application's own pino lines go to Loki with ours (README "Logs"); without Loki
  // there is nowhere to ship them, and their loggers get no extra stream at all.
  const shipAppLogs = config.logs.loki !== undefined;
  const resourceAttributes = { ...config.resourceAttributes };
  const sdk = new NodeSDK({
    ...(config.serviceNameOption !== undefined ? { serviceName: config.serviceNameOption } : {}),
    ...(Object.keys(resourceAttributes).length > 0
      ? { resource: defaultResource().merge(resourceFromAttributes(resourceAttributes)) }
      : {}),
    spanProcessors: [processor],
    sampler: tracing.sampler,
    instrumentations: [
      ...buildInstrumentations(tracing.instrumentations, deps.routeLabel, shipAppLogs),
      ...tracing.extraInstrumentations,
    ],
    // Metrics are prom-client's job: an empty list stops the SDK from setting up its default
    // OTLP metric exporter behind our back. Log records (the application's pino lines) have one
    // processor, ours, which hands them to the Loki transport; no OTLP log exporter either.
    metricReaders: [],
    logRecordProcessors: shipAppLogs ? [new AppLogForwarder()] : [],
  });
  sdk.start();

  let shutdown: Promise<void> | undefined;
  return {
    active: true,
    forceFlush: () => processor.forceFlush(),
    shutdown() {
      shutdown ??= sdk.shutdown();
      return shutdown;
    },
  };
}

function foreignTracerProviderRegistered(): boolean {
  const api = (globalThis as { [OTEL_API_GLOBAL]?: { trace?: unknown } })[OTEL_API_GLOBAL];
  return api?.trace !== undefined;
}

function buildInstrumentations(
  options: InstrumentationOptions,
  routeLabel: RouteLabeler,
  shipAppLogs: boolean,
): Instrumentation[] {
  const list: Instrumentation[] = [];
  const configOf = <T extends object>(value: boolean | T | undefined): T | undefined =>
    value === false ? undefined : typeof value === 'object' ? value : ({} as T);

  const http = configOf(options.http);
  if (http) list.push(new HttpInstrumentation(httpConfig(http, routeLabel)));
  const pg = configOf(options.pg);
  if (pg) list.push(new PgInstrumentation(pg));
  const amqplib = configOf(options.amqplib);
  if (amqplib) list.push(new AmqplibInstrumentation(amqplib));
  const ioredis = configOf(options.ioredis);
  if (ioredis) list.push(new IORedisInstrumentation(ioredis));
  const pino = configOf(options.pino);
  // Trace ids on every application logger's lines; with Loki configured, log sending too: the
  // lines then also become log records, which AppLogForwarder ships to Loki.
  if (pino) list.push(new PinoInstrumentation({ disableLogSending: !shipAppLogs, ...pino }));
  return list;
}

/**
 * The http instrumentation with our hooks chained before the user's: requests to our own
 * /metrics server are not traced, the span context is left on the request for the
 * histogram's exemplars, and server spans are named after their route.
 */
function httpConfig(
  user: HttpInstrumentationConfig,
  routeLabel: RouteLabeler,
): HttpInstrumentationConfig {
  const userIgnore = user.ignoreIncomingRequestHook;
  const userRequestHook = user.requestHook;
  const userApply = user.applyCustomAttributesOnSpan;
  return {
    ...user,
    ignoreIncomingRequestHook(request) {
      if (isInternalServer(serverOf(request))) return true;
      return userIgnore ? userIgnore(request) : false;
    },
    requestHook(span, request) {
      if (request instanceof IncomingMessage) setRequestSpanContext(request, span.spanContext());
      userRequestHook?.(span, request);
    },
    applyCustomAttributesOnSpan(span, request, response) {
      if (request instanceof IncomingMessage) {
        const route = requestRoute(request) ?? routeLabel(request, response.statusCode ?? 0);
        if (route !== OTHER) {
          span.setAttribute('http.route', route);
          span.updateName(`${request.method ?? 'GET'} ${route}`);
        }
      }
      userApply?.(span, request, response);
    },
  };
}

/**
 * Counts what the exporter delivers and loses, and says once per outage that the endpoint
 * does not take spans (an unreachable collector must not flood the host's stderr).
 */
class MonitoredExporter implements SpanExporter {
  #inner: SpanExporter;
  #shownUrl: string;
  #metrics: SelfMetrics;
  #failing = false;

  constructor(inner: SpanExporter, shownUrl: string, metrics: SelfMetrics) {
    this.#inner = inner;
    this.#shownUrl = shownUrl;
    this.#metrics = metrics;
  }

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    this.#inner.export(spans, (result) => {
      try {
        if (result.code === ExportResultCode.SUCCESS) {
          this.#metrics.spansExported.inc(spans.length);
          this.#failing = false;
        } else {
          this.#metrics.spansDropped.inc({ reason: 'export_failed' }, spans.length);
          if (!this.#failing) {
            this.#failing = true;
            warn(
              'MESKIT_OTEL_EXPORT_FAILED',
              `cannot export spans to ${this.#shownUrl}: ${redactText(describe(result.error ?? 'unknown error'))}. Spans are dropped (meskit_otel_spans_dropped_total{reason="export_failed"}) until the endpoint takes them again; the application is not affected. Check OTEL_EXPORTER_OTLP_ENDPOINT`,
            );
          }
        }
      } finally {
        resultCallback(result);
      }
    });
  }

  shutdown(): Promise<void> {
    return this.#inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.#inner.forceFlush?.() ?? Promise.resolve();
  }
}

/**
 * A MeterProvider for the batch processor's self-observability that only listens for
 * "spans dropped because the queue was full" and turns them into our prom-client counter
 * and one warning. Everything else goes to a no-op meter.
 */
function queueDropMeterProvider(metrics: SelfMetrics, maxQueueSize: number): MeterProvider {
  const noop = createNoopMeter();
  const dropCounter: OtelCounter = {
    add(value: number, attributes?: Attributes) {
      if (attributes?.['error.type'] !== 'queue_full') return;
      metrics.spansDropped.inc({ reason: 'queue_full' }, value);
      warnOnce(
        'MESKIT_OTEL_SPANS_DROPPED',
        `the span export queue is full (${maxQueueSize} spans): spans are being dropped (meskit_otel_spans_dropped_total{reason="queue_full"}). The endpoint is too slow or down; raise OTEL_BSP_MAX_QUEUE_SIZE or sample less (OTEL_TRACES_SAMPLER)`,
      );
    },
  };
  const meter: Meter = {
    createCounter: (name, options) =>
      name === 'otel.sdk.processor.span.processed'
        ? dropCounter
        : noop.createCounter(name, options),
    createGauge: (name, options) => noop.createGauge(name, options),
    createHistogram: (name, options) => noop.createHistogram(name, options),
    createUpDownCounter: (name, options) => noop.createUpDownCounter(name, options),
    createObservableGauge: (name, options) => noop.createObservableGauge(name, options),
    createObservableCounter: (name, options) => noop.createObservableCounter(name, options),
    createObservableUpDownCounter: (name, options) =>
      noop.createObservableUpDownCounter(name, options),
    addBatchObservableCallback: (callback, observables) =>
      noop.addBatchObservableCallback(callback, observables),
    removeBatchObservableCallback: (callback, observables) =>
      noop.removeBatchObservableCallback(callback, observables),
  };
  return { getMeter: () => meter };
}
