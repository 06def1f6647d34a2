// Spans to Zipkin (OTEL_TRACES_EXPORTER=zipkin): the lean tracer's ended span records, seen as
// the SDK's ReadableSpan, go through upstream's BatchSpanProcessor to upstream's ZipkinExporter
// (Zipkin's v2 JSON over HTTP). The exporter is imported only when Zipkin is chosen; records
// that end before it has loaded wait in a bounded buffer.
//
// Unlike OTLP, whose requests our worker thread sends (worker-span-processor.ts), Zipkin's are
// sent from the application's thread, as upstream sends them. The queue is bounded by
// `maxQueueSize` (spans appended but not yet exported); what does not fit is dropped and
// counted, like the OTLP path.
import type { Attributes, HrTime, Link, SpanContext } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, SpanExporter, TimedEvent } from '@opentelemetry/sdk-trace';
import type { SpanSink } from './lean-span.js';
import type { SelfMetrics } from './metrics.js';
import type { SpanRecord } from './otlp-json.js';
import { redactText } from './redact.js';
import { warn, warnOnce } from './warn.js';

export interface ZipkinSinkOptions {
  /** The v2 spans endpoint (`http://zipkin:9411/api/v2/spans`). */
  readonly url: string;
  readonly maxQueueSize: number;
  readonly maxExportBatchSize: number;
  readonly scheduledDelayMs: number;
  readonly exportTimeoutMs: number;
  readonly metrics: SelfMetrics;
  /** The resource (service.name and the rest become tags), read at the first span. */
  readonly resource: () => Resource;
}

interface Processor {
  onEnd(span: ReadableSpan): void;
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

/** ExportResultCode.SUCCESS of @opentelemetry/core. */
const SUCCESS = 0;
const SAMPLED = 1;

export class ZipkinSink implements SpanSink {
  readonly #options: ZipkinSinkOptions;
  readonly #loading: Promise<void>;
  /** Records that ended before the exporter loaded. */
  #early: SpanRecord[] = [];
  #processor: Processor | undefined;
  #resource: Resource | undefined;
  /** Spans handed to the processor whose export has not finished. */
  #queued = 0;
  #dead = false;
  #failing = false;

  constructor(options: ZipkinSinkOptions) {
    this.#options = options;
    this.#loading = this.#load();
  }

  append(record: SpanRecord): void {
    const { metrics, maxQueueSize } = this.#options;
    if (this.#dead) {
      metrics.spansDropped.inc({ reason: 'export_failed' });
      return;
    }
    if (this.#queued + this.#early.length >= maxQueueSize) {
      metrics.spansDropped.inc({ reason: 'queue_full' });
      warnOnce(
        'MESKIT_OTEL_SPANS_DROPPED',
        `the Zipkin export queue is full (${maxQueueSize} spans): spans are being dropped (meskit_otel_spans_dropped_total{reason="queue_full"}). Zipkin is too slow or down; raise OTEL_BSP_MAX_QUEUE_SIZE or sample less (OTEL_TRACES_SAMPLER)`,
      );
      return;
    }
    if (this.#processor === undefined) {
      this.#early.push(record);
      return;
    }
    this.#queued++;
    this.#resource ??= this.#options.resource();
    this.#processor.onEnd(readableSpan(record, this.#resource));
  }

  async forceFlush(): Promise<void> {
    await this.#loading;
    await this.#processor?.forceFlush();
  }

  async shutdown(): Promise<void> {
    await this.#loading;
    await this.#processor?.shutdown();
  }

  async #load(): Promise<void> {
    const o = this.#options;
    try {
      const [{ ZipkinExporter }, { BatchSpanProcessor }] = await Promise.all([
        import('@opentelemetry/exporter-zipkin'),
        import('@opentelemetry/sdk-trace'),
      ]);
      const exporter = new ZipkinExporter({ url: o.url });
      this.#processor = new BatchSpanProcessor({
        exporter: this.#counting(exporter),
        maxQueueSize: o.maxQueueSize,
        maxExportBatchSize: o.maxExportBatchSize,
        scheduledDelayMillis: o.scheduledDelayMs,
        exportTimeoutMillis: o.exportTimeoutMs,
      });
    } catch (err) {
      this.#dead = true;
      o.metrics.spansDropped.inc({ reason: 'export_failed' }, this.#early.length);
      this.#early = [];
      warnOnce(
        'MESKIT_OTEL_EXPORT_FAILED',
        `cannot load the Zipkin exporter (@opentelemetry/exporter-zipkin): ${err instanceof Error ? err.message : String(err)}. Spans are not exported; the application is not affected`,
        'zipkin-load',
      );
      return;
    }
    const early = this.#early;
    this.#early = [];
    for (const record of early) this.append(record);
  }

  /**
   * The exporter, with its outcomes counted in the package's own metrics and warned once.
   * Upstream's exporter sets no time limit on its request: one that has not answered within
   * the export timeout counts as failed, so a hung Zipkin cannot hold the queue's room forever.
   */
  #counting(exporter: SpanExporter): SpanExporter {
    const { metrics, url, exportTimeoutMs } = this.#options;
    const settle = (spans: number, ok: boolean, why: string | undefined): void => {
      this.#queued -= spans;
      if (ok) {
        metrics.spansExported.inc(spans);
        this.#failing = false;
        return;
      }
      metrics.spansDropped.inc({ reason: 'export_failed' }, spans);
      if (this.#failing) return;
      this.#failing = true;
      warn(
        'MESKIT_OTEL_EXPORT_FAILED',
        `cannot export spans to Zipkin at ${redactText(url)}: ${redactText(why ?? 'unknown error')}. Spans are dropped (meskit_otel_spans_dropped_total{reason="export_failed"}) until Zipkin takes them again; the application is not affected. Check OTEL_EXPORTER_ZIPKIN_ENDPOINT`,
      );
    };
    return {
      export: (spans, done) => {
        let settled = false;
        const timer = setTimeout(() => {
          settled = true;
          settle(spans.length, false, `no answer within ${exportTimeoutMs} ms`);
          done({ code: 1 });
        }, exportTimeoutMs);
        timer.unref();
        exporter.export(spans, (result) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          settle(spans.length, result.code === SUCCESS, result.error?.message);
          done(result);
        });
      },
      shutdown: () => exporter.shutdown(),
      forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
    };
  }
}

/**
 * Epoch milliseconds (fractional) as HrTime, in whole microseconds: upstream's exporter writes
 * the microseconds as they come, and Zipkin refuses a timestamp or duration with a fraction.
 */
function hrTime(ms: number): HrTime {
  const micros = Math.round(ms * 1000);
  const seconds = Math.floor(micros / 1e6);
  return [seconds, (micros - seconds * 1e6) * 1000];
}

/** A record as the ReadableSpan the SDK's processors and exporters take. */
function readableSpan(record: SpanRecord, resource: Resource): ReadableSpan {
  const context: SpanContext = {
    traceId: record.traceId,
    spanId: record.spanId,
    traceFlags: SAMPLED,
  };
  const parent: SpanContext | undefined =
    record.parentSpanId === undefined
      ? undefined
      : { traceId: record.traceId, spanId: record.parentSpanId, traceFlags: SAMPLED };
  const events: TimedEvent[] = record.events.map((event) => ({
    name: event.name,
    time: hrTime(event.time),
    attributes: (event.attributes ?? {}) as Attributes,
    droppedAttributesCount: event.droppedAttributesCount,
  }));
  const links: Link[] = record.links.map((link) => ({
    context: { traceId: link.traceId, spanId: link.spanId, traceFlags: SAMPLED },
    attributes: (link.attributes ?? {}) as Attributes,
    droppedAttributesCount: link.droppedAttributesCount,
  }));
  return {
    name: record.name,
    kind: record.kind,
    spanContext: () => context,
    parentSpanContext: parent,
    // What exporters of SDK 1.x read instead of parentSpanContext.
    ...({ parentSpanId: record.parentSpanId } as object),
    startTime: hrTime(record.start),
    endTime: hrTime(record.end),
    // At least 1 µs: Zipkin reads a duration of 0 as unknown.
    duration: hrTime(Math.max(record.end - record.start, 0.001)),
    status: {
      code: record.statusCode,
      ...(record.statusMessage !== undefined ? { message: record.statusMessage } : {}),
    },
    attributes: record.attributes as Attributes,
    links,
    events,
    ended: true,
    resource,
    instrumentationScope: {
      name: record.scopeName,
      ...(record.scopeVersion !== undefined ? { version: record.scopeVersion } : {}),
    },
    droppedAttributesCount: record.droppedAttributesCount,
    droppedEventsCount: record.droppedEventsCount,
    droppedLinksCount: record.droppedLinksCount,
  };
}
