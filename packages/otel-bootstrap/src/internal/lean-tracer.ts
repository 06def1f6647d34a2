// The tracer provider we register instead of the SDK's. Profiled on the MES's get-one-order
// (docs/benchmarks.md), the SDK's span (class with a dozen fields, HrTime tuples, a processor
// chain, self-metrics per span, cleanAttributes on every start) and the copy of each ended span
// into a cloneable record were together about a quarter of telemetry's main-thread cost. Here a
// span writes straight into the record the export worker receives: attributes into one plain
// object, times as epoch milliseconds, and end() appends that record to the worker's batch.
//
// What is kept from @opentelemetry/sdk-trace: the sampler (the SDK's own objects, so every
// OTEL_TRACES_SAMPLER behaves as before), suppressed tracing, parent/child and trace state,
// span limits (OTEL_SPAN_* / OTEL_ATTRIBUTE_* with the SDK's defaults), attribute validation
// and truncation (core's maybeAddAttribute, after a fast path for plain values), events, links,
// status and recordException as the SDK records them. Instrumentations reach it through the
// global @opentelemetry/api as before.
import { randomFillSync } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import {
  SamplingDecision,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  context as contextApi,
  trace,
  type Attributes,
  type AttributeValue,
  type Context,
  type Exception,
  type Link,
  type Span,
  type SpanContext,
  type SpanOptions,
  type SpanStatus,
  type TimeInput,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import {
  getNumberFromEnv,
  isTracingSuppressed,
  maybeAddAttribute,
  maybeAddSimpleAttribute,
} from '@opentelemetry/core';
import type { Sampler } from '@opentelemetry/sdk-trace';
import type { AttributeRecord, SpanRecord } from './otlp-json.js';

/** Where ended, sampled spans go (the worker span processor). */
export interface SpanSink {
  append(record: SpanRecord): void;
}

export interface SpanLimits {
  readonly attributeCountLimit: number;
  readonly attributeValueLengthLimit: number;
  readonly eventCountLimit: number;
  readonly linkCountLimit: number;
  readonly attributePerEventCountLimit: number;
  readonly attributePerLinkCountLimit: number;
}

const DEFAULT_COUNT_LIMIT = 128;

/** Span limits from OTEL_SPAN_* / OTEL_ATTRIBUTE_* / OTEL_EVENT_* / OTEL_LINK_*, the SDK's defaults otherwise. */
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
  }

  startSpan(name: string, options: SpanOptions = {}, ctx: Context = contextApi.active()): Span {
    if (options.root === true) ctx = trace.deleteSpan(ctx);
    if (isTracingSuppressed(ctx)) return trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
    const parent = trace.getSpan(ctx)?.spanContext();
    const validParent =
      parent !== undefined && trace.isSpanContextValid(parent) ? parent : undefined;
    const traceId = validParent?.traceId ?? newId(16);
    const kind = options.kind ?? SpanKind.INTERNAL;
    const links = options.links ?? NO_LINKS;
    // The sampler sees the attributes given at start (some samplers decide on them).
    const startAttributes = options.attributes ?? {};
    const result = this.#sampler.shouldSample(ctx, traceId, name, kind, startAttributes, links);
    const spanContext: SpanContext = {
      traceId,
      spanId: newId(8),
      traceFlags:
        result.decision === SamplingDecision.RECORD_AND_SAMPLED
          ? TraceFlags.SAMPLED
          : TraceFlags.NONE,
      traceState: result.traceState ?? validParent?.traceState,
    };
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
const NONE: never[] = [];

type MutableRecord = { -readonly [K in keyof SpanRecord]: SpanRecord[K] };

class LeanSpan implements Span {
  readonly #sink: SpanSink;
  readonly #limits: SpanLimits;
  readonly #spanContext: SpanContext;
  readonly #record: MutableRecord;
  #attributeCount = 0;
  #ended = false;

  constructor(
    sink: SpanSink,
    limits: SpanLimits,
    spanContext: SpanContext,
    parentSpanId: string | undefined,
    name: string,
    kind: SpanKind,
    scopeName: string,
    scopeVersion: string | undefined,
    start: number,
  ) {
    this.#sink = sink;
    this.#limits = limits;
    this.#spanContext = spanContext;
    this.#record = {
      traceId: spanContext.traceId,
      spanId: spanContext.spanId,
      parentSpanId,
      traceState: undefined,
      name,
      kind,
      start,
      end: start,
      attributes: {},
      droppedAttributesCount: 0,
      events: NONE,
      droppedEventsCount: 0,
      links: NONE,
      droppedLinksCount: 0,
      statusCode: SpanStatusCode.UNSET,
      statusMessage: undefined,
      scopeName,
      scopeVersion,
    };
  }

  spanContext(): SpanContext {
    return this.#spanContext;
  }

  setAttribute(key: string, value: AttributeValue): this {
    if (this.#ended) return this;
    const attributes = this.#record.attributes as Record<string, unknown>;
    // Fast path: a plain value under the limits, which is nearly every attribute.
    const type = typeof value;
    if (
      (type === 'number' ||
        type === 'boolean' ||
        (type === 'string' &&
          (value as string).length <= this.#limits.attributeValueLengthLimit)) &&
      key.length > 0
    ) {
      if (Object.hasOwn(attributes, key)) {
        attributes[key] = value;
        return this;
      }
      if (this.#attributeCount < this.#limits.attributeCountLimit) {
        attributes[key] = value;
        this.#attributeCount++;
        return this;
      }
    }
    const decision = maybeAddAttribute({
      key,
      value,
      attributes,
      limits: this.#limits,
      currentAttributesCount: this.#attributeCount,
    } as Parameters<typeof maybeAddAttribute>[0]);
    if (decision === ADD_DECISION.DROP_LIMIT_REACHED) this.#record.droppedAttributesCount++;
    else if (decision === ADD_DECISION.ADD_NEW) this.#attributeCount++;
    return this;
  }

  setAttributes(attributes: Attributes): this {
    for (const key in attributes) {
      if (Object.hasOwn(attributes, key)) this.setAttribute(key, attributes[key] as AttributeValue);
    }
    return this;
  }

  addEvent(
    name: string,
    attributesOrStartTime?: Attributes | TimeInput,
    startTime?: TimeInput,
  ): this {
    if (this.#ended) return this;
    const record = this.#record;
    const limit = this.#limits.eventCountLimit;
    if (limit <= 0) {
      record.droppedEventsCount++;
      return this;
    }
    if (record.events === NONE) record.events = [];
    const events = record.events as SpanRecord['events'][number][];
    if (events.length >= limit) {
      // Like the SDK: the newest events are kept.
      events.shift();
      record.droppedEventsCount++;
    }
    let attributes: Attributes | undefined;
    if (isTimeInput(attributesOrStartTime)) {
      startTime ??= attributesOrStartTime;
    } else {
      attributes = attributesOrStartTime;
    }
    const limited = limitAttributes(
      attributes,
      this.#limits.attributePerEventCountLimit,
      this.#limits,
      true,
    );
    events.push({
      name,
      time: toEpochMs(startTime),
      attributes: limited.attributes,
      droppedAttributesCount: limited.dropped,
    });
    return this;
  }

  addLink(link: Link): this {
    if (this.#ended) return this;
    const record = this.#record;
    const limit = this.#limits.linkCountLimit;
    if (record.links.length >= limit) {
      record.droppedLinksCount++;
      return this;
    }
    if (record.links === NONE) record.links = [];
    const limited = limitAttributes(
      link.attributes,
      this.#limits.attributePerLinkCountLimit,
      this.#limits,
      false,
    );
    (record.links as SpanRecord['links'][number][]).push({
      traceId: link.context.traceId,
      spanId: link.context.spanId,
      traceState: link.context.traceState?.serialize(),
      attributes: limited.attributes,
      droppedAttributesCount: limited.dropped,
    });
    return this;
  }

  addLinks(links: Link[]): this {
    for (const link of links) this.addLink(link);
    return this;
  }

  setStatus(status: SpanStatus): this {
    if (this.#ended) return this;
    const record = this.#record;
    // OK is final; UNSET never overrides (the SDK's rules).
    if (record.statusCode === SpanStatusCode.OK || status.code === SpanStatusCode.UNSET) {
      return this;
    }
    record.statusCode = status.code;
    record.statusMessage =
      status.code === SpanStatusCode.ERROR && typeof status.message === 'string'
        ? status.message
        : undefined;
    return this;
  }

  updateName(name: string): this {
    if (!this.#ended) this.#record.name = name;
    return this;
  }

  end(endTime?: TimeInput): void {
    if (this.#ended) return;
    this.#ended = true;
    const record = this.#record;
    record.end = Math.max(record.start, toEpochMs(endTime));
    record.traceState = this.#spanContext.traceState?.serialize();
    // A RECORD_ONLY decision records but does not export.
    if ((this.#spanContext.traceFlags & TraceFlags.SAMPLED) !== 0) this.#sink.append(record);
  }

  isRecording(): boolean {
    return !this.#ended;
  }

  recordException(exception: Exception, time?: TimeInput): void {
    const attributes: Attributes = {};
    if (typeof exception === 'string') {
      attributes['exception.message'] = exception;
    } else if (exception !== null && typeof exception === 'object') {
      if (exception.code !== undefined && exception.code !== null && exception.code !== '') {
        attributes['exception.type'] = String(exception.code);
      } else if (exception.name) {
        attributes['exception.type'] = exception.name;
      }
      if (exception.message) attributes['exception.message'] = exception.message;
      if (exception.stack) attributes['exception.stacktrace'] = exception.stack;
    }
    if (attributes['exception.type'] !== undefined || attributes['exception.message'] !== undefined)
      this.addEvent('exception', attributes, time);
  }
}

// core's AddAttributeDecision, as numbers (a const enum in its types).
const ADD_DECISION = { DROP_LIMIT_REACHED: 2, ADD_NEW: 3 } as const;

function limitAttributes(
  attributes: Attributes | undefined,
  countLimit: number,
  limits: SpanLimits,
  simpleOnly: boolean,
): { attributes: AttributeRecord | undefined; dropped: number } {
  if (attributes === undefined) return { attributes: undefined, dropped: 0 };
  const kept: Record<string, unknown> = {};
  const add = simpleOnly ? maybeAddSimpleAttribute : maybeAddAttribute;
  let count = 0;
  let dropped = 0;
  for (const key in attributes) {
    if (!Object.hasOwn(attributes, key)) continue;
    const decision = add({
      key,
      value: attributes[key],
      attributes: kept,
      limits: {
        attributeCountLimit: countLimit,
        attributeValueLengthLimit: limits.attributeValueLengthLimit,
      },
      currentAttributesCount: count,
    } as Parameters<typeof maybeAddAttribute>[0]);
    if (decision === ADD_DECISION.DROP_LIMIT_REACHED) dropped++;
    else if (decision === ADD_DECISION.ADD_NEW) count++;
  }
  return { attributes: kept, dropped };
}

// Ids from a pool of random bytes refilled 4 KiB at a time and turned into hex once per refill:
// an id is then a substring, instead of a Math.random() per byte or a Buffer#toString per id.
const POOL = Buffer.alloc(4096);
let poolHex = '';
let poolOffset = POOL.length * 2;
const ZERO_SPAN_ID = '0000000000000000';
const ZERO_TRACE_ID = '00000000000000000000000000000000';

/** A random id of `bytes` bytes as lowercase hex, never all zeros (invalid in W3C trace context). */
export function newId(bytes: 8 | 16): string {
  const chars = bytes * 2;
  for (;;) {
    if (poolOffset + chars > poolHex.length) {
      randomFillSync(POOL);
      poolHex = POOL.toString('hex');
      poolOffset = 0;
    }
    const id = poolHex.slice(poolOffset, poolOffset + chars);
    poolOffset += chars;
    if (id !== ZERO_SPAN_ID && id !== ZERO_TRACE_ID) return id;
  }
}

const TIME_ORIGIN = performance.timeOrigin;

/** A TimeInput as epoch milliseconds, like the SDK reads it (numbers below now are performance.now() values). */
function toEpochMs(input: TimeInput | undefined): number {
  const now = performance.now();
  if (input === undefined) return TIME_ORIGIN + now;
  if (typeof input === 'number') return input <= now ? TIME_ORIGIN + input : input;
  if (input instanceof Date) return input.getTime();
  return input[0] * 1e3 + input[1] / 1e6;
}

function isTimeInput(value: unknown): value is TimeInput {
  return (
    typeof value === 'number' ||
    value instanceof Date ||
    (Array.isArray(value) &&
      value.length === 2 &&
      typeof value[0] === 'number' &&
      typeof value[1] === 'number')
  );
}
