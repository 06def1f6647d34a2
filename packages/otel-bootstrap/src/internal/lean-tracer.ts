// The tracer provider we register instead of the SDK's. Profiled on the MES's get-one-order
// (docs/benchmarks.md), the SDK's span (class with a dozen fields, HrTime tuples, a processor
// chain, self-metrics per span, cleanAttributes on every start) and the copy of each ended span
// into a cloneable record were together about a quarter of telemetry's main-thread cost. Here a
// span writes straight into a plain record: attributes into one plain object, times as epoch
// milliseconds, and end() hands that record to the span processor, which writes it into the
// batch as OTLP/JSON bytes (worker-span-processor.ts, otlp-json.ts).
//
// What is kept from @opentelemetry/sdk-trace: the sampler (the SDK's own objects, so every
// OTEL_TRACES_SAMPLER behaves as before), suppressed tracing, parent/child and trace state,
// span limits (OTEL_SPAN_* / OTEL_ATTRIBUTE_* with the SDK's defaults), attribute validation
// and truncation (core's maybeAddAttribute, after a fast path for plain values), events, links,
// status and recordException as the SDK records them. Instrumentations reach it through the
// global @opentelemetry/api as before. The span is lean-span.ts; the limits are read in
// config/tracing.ts.
import {
  SamplingDecision,
  SpanKind,
  TraceFlags,
  context as contextApi,
  trace,
  type Context,
  type Link,
  type Span,
  type SpanContext,
  type SpanOptions,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import { isTracingSuppressed } from '@opentelemetry/core';
import type { Sampler } from '@opentelemetry/sdk-trace';
import { spanLimitsFromEnv, type SpanLimits } from './config/tracing.js';
import { LeanSpan, type SpanSink } from './lean-span.js';
import { samplerDropsUnsampledChildren } from './sampler.js';
import { newId } from './span-ids.js';
import { toEpochMs } from './span-time.js';

export interface LeanTracerProviderOptions {
  readonly sampler: Sampler;
  readonly sink: SpanSink;
  /** Default: spanLimitsFromEnv(). */
  readonly spanLimits?: SpanLimits;
}

export class LeanTracerProvider implements TracerProvider {
  readonly #options: Required<LeanTracerProviderOptions>;
  readonly #tracers = new Map<string, LeanTracer>();

  constructor(options: LeanTracerProviderOptions) {
    this.#options = { spanLimits: spanLimitsFromEnv(), ...options };
  }

  getTracer(name: string, version?: string, options?: { schemaUrl?: string }): Tracer {
    const key = `${name}@${version ?? ''}:${options?.schemaUrl ?? ''}`;
    let tracer = this.#tracers.get(key);
    if (tracer === undefined) {
      tracer = new LeanTracer(name, version, this.#options);
      this.#tracers.set(key, tracer);
    }
    return tracer;
  }
}

class LeanTracer implements Tracer {
  readonly #scopeName: string;
  readonly #scopeVersion: string | undefined;
  readonly #sampler: Sampler;
  readonly #sink: SpanSink;
  readonly #limits: SpanLimits;
  readonly #dropsUnsampledChildren: boolean;

  constructor(
    scopeName: string,
    scopeVersion: string | undefined,
    options: Required<LeanTracerProviderOptions>,
  ) {
    this.#scopeName = scopeName;
    this.#scopeVersion = scopeVersion;
    this.#sampler = options.sampler;
    this.#sink = options.sink;
    this.#limits = options.spanLimits;
    this.#dropsUnsampledChildren = samplerDropsUnsampledChildren(options.sampler);
  }

  startSpan(name: string, options: SpanOptions = {}, ctx: Context = contextApi.active()): Span {
    if (options.root === true) ctx = trace.deleteSpan(ctx);
    if (isTracingSuppressed(ctx)) return trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
    const parentSpan = trace.getSpan(ctx);
    const parent = parentSpan?.spanContext();
    // Contexts this tracer issued are valid by construction; others (a propagated parent,
    // another tracer's) are checked as the SDK checks them (two regular expressions).
    const validParent =
      parent !== undefined &&
      (parent instanceof IssuedSpanContext || trace.isSpanContextValid(parent))
        ? parent
        : undefined;
    // Under a parent that was not sampled, a parent-based sampler drops the child: the child
    // is then the parent's own non-recording span (same trace, flags 0), without a sampler
    // call, new ids or a new object. What it propagates still continues the unsampled trace.
    if (
      this.#dropsUnsampledChildren &&
      validParent !== undefined &&
      (validParent.traceFlags & TraceFlags.SAMPLED) === 0 &&
      parentSpan !== undefined &&
      !parentSpan.isRecording() &&
      (options.links === undefined || options.links.length === 0)
    )
      return parentSpan;
    const traceId = validParent?.traceId ?? newId(16);
    const kind = options.kind ?? SpanKind.INTERNAL;
    const links = options.links ?? NO_LINKS;
    // The sampler sees the attributes given at start (some samplers decide on them).
    const startAttributes = options.attributes ?? {};
    const result = this.#sampler.shouldSample(ctx, traceId, name, kind, startAttributes, links);
    const spanContext = new IssuedSpanContext(
      traceId,
      newId(8),
      result.decision === SamplingDecision.RECORD_AND_SAMPLED
        ? TraceFlags.SAMPLED
        : TraceFlags.NONE,
      result.traceState ?? validParent?.traceState,
    );
    if (result.decision === SamplingDecision.NOT_RECORD) return trace.wrapSpanContext(spanContext);
    const span = new LeanSpan(
      this.#sink,
      this.#limits,
      spanContext,
      validParent?.spanId,
      name,
      kind,
      this.#scopeName,
      this.#scopeVersion,
      toEpochMs(options.startTime),
    );
    span.setAttributes(startAttributes);
    if (result.attributes !== undefined) span.setAttributes(result.attributes);
    for (const link of links) span.addLink(link);
    return span;
  }

  startActiveSpan<F extends (span: Span) => unknown>(name: string, fn: F): ReturnType<F>;
  startActiveSpan<F extends (span: Span) => unknown>(
    name: string,
    options: SpanOptions,
    fn: F,
  ): ReturnType<F>;
  startActiveSpan<F extends (span: Span) => unknown>(
    name: string,
    options: SpanOptions,
    ctx: Context,
    fn: F,
  ): ReturnType<F>;
  startActiveSpan<F extends (span: Span) => unknown>(
    name: string,
    ...args: [F] | [SpanOptions, F] | [SpanOptions, Context, F]
  ): ReturnType<F> {
    const fn = args[args.length - 1] as F;
    const options = args.length > 1 ? (args[0] as SpanOptions) : undefined;
    const parent = args.length > 2 ? (args[1] as Context) : contextApi.active();
    const span = this.startSpan(name, options, parent);
    return contextApi.with(
      trace.setSpan(parent, span),
      fn as (span: Span) => ReturnType<F>,
      undefined,
      span,
    );
  }
}

const INVALID_SPAN_CONTEXT: SpanContext = {
  traceId: '00000000000000000000000000000000',
  spanId: '0000000000000000',
  traceFlags: TraceFlags.NONE,
};
const NO_LINKS: Link[] = [];
/**
 * A span context this tracer created (fresh non-zero ids): no need to validate it again. A
 * class rather than a WeakSet of plain objects: a WeakSet entry is an ephemeron, which every
 * garbage collection has to process, and every request made at least one.
 */
class IssuedSpanContext implements SpanContext {
  constructor(
    readonly traceId: string,
    readonly spanId: string,
    readonly traceFlags: number,
    readonly traceState: SpanContext['traceState'],
  ) {}
}

/**
 * Whether `span` is a non-recording, unsampled span this tracer created. Under a sampler that
 * drops unsampled children (samplerDropsUnsampledChildren), a span started under it is `span`
 * itself (see startSpan): an instrumentation that knows this skips building a span name and
 * attributes that would be thrown away.
 */
export function isUnsampledIssued(span: Span | undefined): boolean {
  if (span === undefined || span.isRecording()) return false;
  const context = span.spanContext();
  return context instanceof IssuedSpanContext && (context.traceFlags & TraceFlags.SAMPLED) === 0;
}
