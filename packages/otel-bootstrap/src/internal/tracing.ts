// The only place that touches the OpenTelemetry SDK. Everything here is created in
// startTracing(), never at import, so importing the package costs no hooks and no timers.
import { trace } from '@opentelemetry/api';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import { AmqplibInstrumentation } from '@opentelemetry/instrumentation-amqplib';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { defaultResource, resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import type { InstrumentationOptions } from '../options.js';
import { AppLogForwarder } from './app-logs.js';
import type { ResolvedConfig } from './config/resolve.js';
import { EnterableContextManager } from './context-manager.js';
import { startHttpServerSpans } from './http-server-spans.js';
import { LeanTracerProvider } from './lean-tracer.js';
import { LeanPgInstrumentation, needsUpstreamPg } from './pg-instrumentation.js';
import { pinoInstrumentation } from './pino-instrumentation.js';
import { samplerDropsUnsampledChildren, samplerIgnoresAttributes } from './sampler.js';
import type { SelfMetrics } from './metrics.js';
import type { RouteLabeler } from './route.js';
import { warnOnce } from './warn.js';
import type { SpanSink } from './lean-span.js';
import { WorkerSpanProcessor } from './worker-span-processor.js';
import { ZipkinSink } from './zipkin-sink.js';

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

  // OTLP: an ended span is written as OTLP/JSON bytes on this thread (otlp-json.ts); batches
  // of those bytes are transferred to a worker that wraps them in the request and POSTs it
  // (worker-span-processor.ts, otlp-worker.ts). HTTP, compression and a slow endpoint stay off
  // the application's thread, without the SDK's BatchSpanProcessor and OTLP exporter.
  // Zipkin: upstream's exporter behind upstream's batch processor (zipkin-sink.ts).
  const sinks: (SpanSink & { forceFlush(): Promise<void>; shutdown(): Promise<void> })[] = [];
  const batch = {
    maxQueueSize: tracing.maxQueueSize,
    maxExportBatchSize: tracing.maxExportBatchSize,
    scheduledDelayMs: tracing.scheduledDelayMs,
    metrics: deps.selfMetrics,
  };
  if (tracing.exporters.includes('otlp'))
    sinks.push(
      new WorkerSpanProcessor({
        ...batch,
        url: tracing.url,
        headers: tracing.headers ?? {},
        exportTimeoutMs: tracing.requestTimeoutMs,
        gzip: tracing.gzip,
        tls: tracing.tls,
        exitWaitMs: Math.min(tracing.exportTimeoutMs, config.shutdownTimeoutMs),
        resource: () => resourceOf(sdk).attributes as Record<string, unknown>,
      }),
    );
  if (tracing.exporters.includes('zipkin'))
    sinks.push(
      new ZipkinSink({
        ...batch,
        url: tracing.zipkinUrl,
        exportTimeoutMs: tracing.exportTimeoutMs,
        resource: () => resourceOf(sdk),
      }),
    );
  const sink: SpanSink =
    sinks.length === 1
      ? sinks[0]!
      : { append: (record) => sinks.forEach((each) => each.append(record)) };

  // The application's own pino lines go to Loki with ours (README "Logs"); without Loki
  // there is nowhere to ship them, and their loggers get no extra stream at all.
  const shipAppLogs = config.logs.loki !== undefined;
  const resourceAttributes = { ...config.resourceAttributes };
  const contextManager = new EnterableContextManager();
  const httpConfig = configOf(tracing.instrumentations.http);
  const baseResource =
    Object.keys(resourceAttributes).length > 0
      ? defaultResource().merge(resourceFromAttributes(resourceAttributes))
      : defaultResource();
  const sdk = new NodeSDK({
    contextManager,
    ...(config.serviceNameOption !== undefined ? { serviceName: config.serviceNameOption } : {}),
    resource: baseResource,
    // No span processor: the SDK then registers no tracer provider, and ours (lean-tracer.ts)
    // takes the global. The SDK still owns context, propagation, resource detection, logs and
    // the instrumentations.
    spanProcessors: [],
    instrumentations: [
      ...buildInstrumentations(
        tracing.instrumentations,
        shipAppLogs,
        samplerDropsUnsampledChildren(tracing.sampler),
      ),
      ...tracing.extraInstrumentations,
    ],
    // Metrics are prom-client's job: an empty list stops the SDK from setting up its default
    // OTLP metric exporter behind our back. Log records (the application's pino lines) have one
    // processor, ours, which hands them to the Loki transport; no OTLP log exporter either.
    metricReaders: [],
    logRecordProcessors: shipAppLogs ? [new AppLogForwarder()] : [],
  });
  sdk.start();
  trace.setGlobalTracerProvider(new LeanTracerProvider({ sampler: tracing.sampler, sink }));
  // Server spans come from Node's http diagnostics channels (http-server-spans.ts); the
  // instrumentation above only traces outgoing requests.
  const stopServerSpans = httpConfig
    ? startHttpServerSpans({
        tracer: trace.getTracer(TRACER_NAME),
        contextManager,
        routeLabel: deps.routeLabel,
        config: httpConfig,
        sampleBeforeAttributes: samplerIgnoresAttributes(tracing.sampler),
      })
    : undefined;

  let shutdown: Promise<void> | undefined;
  return {
    active: true,
    forceFlush: () => Promise.all(sinks.map((each) => each.forceFlush())).then(() => undefined),
    shutdown() {
      stopServerSpans?.();
      shutdown ??= Promise.all([sdk.shutdown(), ...sinks.map((each) => each.shutdown())]).then(
        () => undefined,
      );
      return shutdown;
    },
  };
}

/**
 * The resource NodeSDK detected in start() (its detectors, OTEL_RESOURCE_ATTRIBUTES,
 * OTEL_SERVICE_NAME, our options). It keeps it in a field its types call private; the fallback
 * only matters if a future SDK renames it.
 */
function resourceOf(sdk: NodeSDK): Resource {
  return (sdk as unknown as { _resource?: Resource })._resource ?? defaultResource();
}

/** Instrumentation scope of the HTTP server spans. */
const TRACER_NAME = '@meskit/otel-bootstrap/http-server';

/** An instrumentation's configuration: undefined when off, `{}` for `true`. */
function configOf<T extends object>(value: boolean | T | undefined): T | undefined {
  return value === false ? undefined : typeof value === 'object' ? value : ({} as T);
}

function foreignTracerProviderRegistered(): boolean {
  const api = (globalThis as { [OTEL_API_GLOBAL]?: { trace?: unknown } })[OTEL_API_GLOBAL];
  return api?.trace !== undefined;
}

function buildInstrumentations(
  options: InstrumentationOptions,
  shipAppLogs: boolean,
  parentDecides: boolean,
): Instrumentation[] {
  const list: Instrumentation[] = [];
  const http = configOf(options.http);
  // Outgoing requests only: server spans are ours (startHttpServerSpans). Left on, upstream's
  // incoming path would also run its ignore hook under context.with(suppressTracing(...)) for
  // every request, hiding the pg and AMQP spans of our server span.
  if (http)
    list.push(new HttpInstrumentation({ ...http, disableIncomingRequestInstrumentation: true }));
  const pg = configOf(options.pg);
  // Query spans from our lean patch (pg-instrumentation.ts), the same spans upstream's makes.
  // No span per pool checkout: on a warm pool it is an instant, and it was a third of the
  // spans of a one-query request (docs/benchmarks.md). What only upstream does (its hooks,
  // `{ pg: { ignoreConnectSpans: false } }` to see waits for a connection, SQL commenter...)
  // loads upstream's instrumentation-pg with that configuration instead.
  if (pg)
    list.push(
      needsUpstreamPg(pg)
        ? new PgInstrumentation({ ignoreConnectSpans: true, ...pg })
        : new LeanPgInstrumentation({
            ...(pg.enabled !== undefined ? { enabled: pg.enabled } : {}),
            ...(pg.requireParentSpan !== undefined
              ? { requireParentSpan: pg.requireParentSpan }
              : {}),
            parentDecides,
          }),
    );
  const amqplib = configOf(options.amqplib);
  if (amqplib) list.push(new AmqplibInstrumentation(amqplib));
  const ioredis = configOf(options.ioredis);
  if (ioredis) list.push(new IORedisInstrumentation(ioredis));
  const pino = configOf(options.pino);
  // Trace ids on every application logger's lines; with Loki configured, log sending too: the
  // lines then also become log records, which AppLogForwarder ships to Loki.
  if (pino) list.push(pinoInstrumentation({ disableLogSending: !shipAppLogs, ...pino }));
  return list;
}
