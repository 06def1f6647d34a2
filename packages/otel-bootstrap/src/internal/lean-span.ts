// The lean tracer's span (lean-tracer.ts): it writes straight into a plain record, attributes
// into one plain object and times as epoch milliseconds, and end() hands that record to the
// sink (the span processor, which encodes it). Limits, attribute validation and truncation,
// events, links, status and recordException follow the SDK's rules.
import {
  SpanStatusCode,
  TraceFlags,
  type Attributes,
  type AttributeValue,
  type Exception,
  type Link,
  type Span,
  type SpanContext,
  type SpanKind,
  type SpanStatus,
  type TimeInput,
} from '@opentelemetry/api';
import { maybeAddAttribute, maybeAddSimpleAttribute } from '@opentelemetry/core';
import type { SpanLimits } from './config/tracing.js';
import type { AttributeRecord, SpanRecord } from './otlp-json.js';
import { isTimeInput, toEpochMs } from './span-time.js';

/** Where ended, sampled spans go (the worker span processor). */
export interface SpanSink {
  append(record: SpanRecord): void;
}

const NONE: never[] = [];

type MutableRecord = { -readonly [K in keyof SpanRecord]: SpanRecord[K] };

export class LeanSpan implements Span {
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
