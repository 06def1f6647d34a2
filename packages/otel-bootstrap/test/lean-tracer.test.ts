// The tracer provider registered in place of the SDK's (src/internal/lean-tracer.ts and its
// span, lean-span.ts): sampling decisions, parent/child, attributes and limits, status,
// events, links, exceptions, and the records handed to the span processor.
import {
  ROOT_CONTEXT,
  SamplingDecision,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  context,
  trace,
  type Span,
  type SpanContext,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { suppressTracing } from '@opentelemetry/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SpanLimits } from '../src/internal/config/tracing.js';
import { LeanTracerProvider } from '../src/internal/lean-tracer.js';
import { nanos, type SpanRecord } from '../src/internal/otlp-json.js';
import { samplerFromEnv } from '../src/internal/sampler.js';
import { newId } from '../src/internal/span-ids.js';

const LIMITS: SpanLimits = {
  attributeCountLimit: 128,
  attributeValueLengthLimit: Infinity,
  eventCountLimit: 128,
  linkCountLimit: 128,
  attributePerEventCountLimit: 128,
  attributePerLinkCountLimit: 128,
};

function tracerFor(sampler = 'always_on', arg?: string, spanLimits: SpanLimits = LIMITS) {
  const records: SpanRecord[] = [];
  const provider = new LeanTracerProvider({
    sampler: samplerFromEnv(sampler, arg).sampler,
    sink: { append: (record) => records.push(record) },
    spanLimits,
  });
  return { tracer: provider.getTracer('test-scope', '1.2.3'), records };
}

function remoteParent(sampled: boolean): SpanContext {
  return {
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: 'b7ad6b7169203331',
    traceFlags: sampled ? TraceFlags.SAMPLED : TraceFlags.NONE,
    isRemote: true,
  };
}

const contextManager = new AsyncLocalStorageContextManager();
beforeAll(() => {
  context.setGlobalContextManager(contextManager.enable());
});
afterAll(() => {
  context.disable();
});

describe('lean tracer: sampling', () => {
  it('hands a child of an unsampled parent that parent itself under a parent-based sampler', () => {
    const { tracer, records } = tracerFor('parentbased_traceidratio', '0');
    const root = tracer.startSpan('root', {}, ROOT_CONTEXT);
    expect(root.isRecording()).toBe(false);
    const child = tracer.startSpan('child', {}, trace.setSpan(ROOT_CONTEXT, root));
    expect(child).toBe(root);
    // From a remote unsampled parent too: the trace goes on, nothing is recorded.
    const remote = trace.setSpanContext(ROOT_CONTEXT, remoteParent(false));
    const server = tracer.startSpan('server', {}, remote);
    expect(server.spanContext().traceId).toBe(remoteParent(false).traceId);
    expect(server.isRecording()).toBe(false);
    child.end();
    server.end();
    expect(records).toEqual([]);
    // A sampled parent still gets a child of its own.
    const sampled = tracer.startSpan(
      's',
      {},
      trace.setSpanContext(ROOT_CONTEXT, remoteParent(true)),
    );
    expect(sampled.isRecording()).toBe(true);
    expect(sampled.spanContext().spanId).not.toBe(remoteParent(true).spanId);
  });

  it('asks a sampler of the application own about every child', () => {
    const seen: string[] = [];
    const provider = new LeanTracerProvider({
      sampler: {
        shouldSample: (_ctx, _traceId, name) => {
          seen.push(name);
          return { decision: SamplingDecision.NOT_RECORD };
        },
        toString: () => 'custom',
      },
      sink: { append: () => undefined },
      spanLimits: LIMITS,
    });
    const tracer = provider.getTracer('custom');
    const root = tracer.startSpan('root', {}, ROOT_CONTEXT);
    const child = tracer.startSpan('child', {}, trace.setSpan(ROOT_CONTEXT, root));
    expect(child).not.toBe(root);
    expect(seen).toEqual(['root', 'child']);
  });

  it('records and exports every span with always_on', () => {
    const { tracer, records } = tracerFor('always_on');
    const span = tracer.startSpan('work', {}, ROOT_CONTEXT);
    expect(span.isRecording()).toBe(true);
    expect(span.spanContext().traceFlags).toBe(TraceFlags.SAMPLED);
    span.end();
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      name: 'work',
      scopeName: 'test-scope',
      scopeVersion: '1.2.3',
    });
  });

  it('returns a non-recording span and exports nothing with always_off', () => {
    const { tracer, records } = tracerFor('always_off');
    const span = tracer.startSpan('work', {}, ROOT_CONTEXT);
    expect(span.isRecording()).toBe(false);
    expect(span.spanContext().traceFlags).toBe(TraceFlags.NONE);
    expect(trace.isSpanContextValid(span.spanContext())).toBe(true);
    span.end();
    expect(records).toHaveLength(0);
  });

  it('samples no new root at traceidratio 0 and every one at 1', () => {
    const none = tracerFor('traceidratio', '0');
    const all = tracerFor('traceidratio', '1');
    for (let i = 0; i < 20; i++) {
      none.tracer.startSpan('root', {}, ROOT_CONTEXT).end();
      all.tracer.startSpan('root', {}, ROOT_CONTEXT).end();
    }
    expect(none.records).toHaveLength(0);
    expect(all.records).toHaveLength(20);
  });

  it('follows the remote parent with parentbased_traceidratio, whatever the ratio', () => {
    const { tracer, records } = tracerFor('parentbased_traceidratio', '0');
    const sampledParent = trace.setSpanContext(ROOT_CONTEXT, remoteParent(true));
    const unsampledParent = trace.setSpanContext(ROOT_CONTEXT, remoteParent(false));
    tracer.startSpan('child of sampled', {}, sampledParent).end();
    const dropped = tracer.startSpan('child of unsampled', {}, unsampledParent);
    expect(dropped.isRecording()).toBe(false);
    // The trace id carries on, so the decision propagates downstream.
    expect(dropped.spanContext().traceId).toBe(remoteParent(false).traceId);
    dropped.end();
    tracer.startSpan('new root', {}, ROOT_CONTEXT).end();
    expect(records.map((r) => r.name)).toEqual(['child of sampled']);
    expect(records[0]).toMatchObject({
      traceId: remoteParent(true).traceId,
      parentSpanId: remoteParent(true).spanId,
    });
  });

  it('returns an invalid non-recording span when tracing is suppressed', () => {
    const { tracer, records } = tracerFor('always_on');
    const span = tracer.startSpan('hidden', {}, suppressTracing(ROOT_CONTEXT));
    expect(trace.isSpanContextValid(span.spanContext())).toBe(false);
    span.end();
    expect(records).toHaveLength(0);
  });
});

describe('lean tracer: spans', () => {
  it('parents a span on the active one and starts a new trace with root: true', () => {
    const { tracer, records } = tracerFor();
    tracer.startActiveSpan('parent', (parent: Span) => {
      const child = tracer.startSpan('child');
      const root = tracer.startSpan('other root', { root: true });
      child.end();
      root.end();
      parent.end();
    });
    const byName = Object.fromEntries(records.map((r) => [r.name, r]));
    expect(byName['child']!.traceId).toBe(byName['parent']!.traceId);
    expect(byName['child']!.parentSpanId).toBe(byName['parent']!.spanId);
    expect(byName['parent']!.parentSpanId).toBeUndefined();
    expect(byName['other root']!.traceId).not.toBe(byName['parent']!.traceId);
    expect(byName['other root']!.parentSpanId).toBeUndefined();
  });

  it('keeps valid attributes, drops invalid ones and applies the count and length limits', () => {
    const { tracer, records } = tracerFor('always_on', undefined, {
      ...LIMITS,
      attributeCountLimit: 3,
      attributeValueLengthLimit: 5,
    });
    const span = tracer.startSpan('attrs', { attributes: { a: 'one', kind: SpanKind.SERVER } });
    span.setAttribute('long', 'truncated here');
    span.setAttribute('a', 'again'); // an update does not count against the limit
    span.setAttribute('over', true);
    span.setAttribute('', 'no key');
    span.setAttributes({ list: ['x'] });
    span.end();
    span.setAttribute('after end', 1);
    expect(records[0]!.attributes).toEqual({ a: 'again', kind: SpanKind.SERVER, long: 'trunc' });
    expect(records[0]!.droppedAttributesCount).toBe(2);
  });

  it('applies the status rules of the SDK: OK is final, UNSET changes nothing, messages only on ERROR', () => {
    const { tracer, records } = tracerFor();
    const failed = tracer.startSpan('failed');
    failed.setStatus({ code: SpanStatusCode.ERROR, message: 'boom' });
    failed.setStatus({ code: SpanStatusCode.UNSET });
    failed.end();
    const ok = tracer.startSpan('ok');
    ok.setStatus({ code: SpanStatusCode.OK, message: 'ignored' });
    ok.setStatus({ code: SpanStatusCode.ERROR, message: 'too late' });
    ok.end();
    expect(records.map((r) => [r.statusCode, r.statusMessage])).toEqual([
      [SpanStatusCode.ERROR, 'boom'],
      [SpanStatusCode.OK, undefined],
    ]);
  });

  it('records events (newest kept past the limit), links and exceptions', () => {
    const { tracer, records } = tracerFor('always_on', undefined, {
      ...LIMITS,
      eventCountLimit: 2,
    });
    const linked = remoteParent(true);
    const span = tracer.startSpan('events', {
      links: [{ context: linked, attributes: { why: 'batch' } }],
    });
    span.addEvent('first');
    span.addEvent('second', { n: 2 });
    span.recordException(Object.assign(new Error('broken pipe'), { code: 'EPIPE' }));
    span.updateName('renamed');
    span.end();
    span.end(); // a second end is ignored
    expect(records).toHaveLength(1);
    const record = records[0]!;
    expect(record.name).toBe('renamed');
    expect(record.droppedEventsCount).toBe(1);
    expect(record.events.map((e) => e.name)).toEqual(['second', 'exception']);
    expect(record.events[1]!.attributes).toMatchObject({
      'exception.type': 'EPIPE',
      'exception.message': 'broken pipe',
    });
    expect(record.links).toEqual([
      {
        traceId: linked.traceId,
        spanId: linked.spanId,
        traceState: undefined,
        attributes: { why: 'batch' },
        droppedAttributesCount: 0,
      },
    ]);
  });

  // Epoch milliseconds in a double keep about a quarter of a microsecond, so the explicit
  // times here are whole microseconds.
  it('times spans in epoch milliseconds, honouring explicit start and end times', () => {
    const { tracer, records } = tracerFor();
    // The monotonic clock from the process's time origin, as the SDK times spans: Date.now()
    // may drift from it by milliseconds in a long-running process (NTP slewing the wall clock).
    const origin = performance.timeOrigin;
    const before = origin + performance.now();
    tracer.startSpan('now').end();
    const after = origin + performance.now();
    tracer
      .startSpan('given', { startTime: new Date(1_700_000_000_000) })
      .end([1_700_000_001, 500_000]);
    expect(records[0]!.start).toBeGreaterThanOrEqual(before);
    expect(records[0]!.end).toBeLessThanOrEqual(after);
    expect(records[0]!.end).toBeGreaterThanOrEqual(records[0]!.start);
    // Epoch milliseconds: the wall clock's, give or take that drift.
    expect(Math.abs(records[0]!.start - Date.now())).toBeLessThan(1_000);
    expect(nanos(records[1]!.start)).toBe('1700000000000000000');
    expect(nanos(records[1]!.end)).toBe('1700000001000500000');
  });

  it('makes W3C-valid ids', () => {
    const ids = new Set<string>();
    for (let i = 0; i < 1000; i++) ids.add(newId(8));
    expect(ids.size).toBe(1000);
    expect([...ids].every((id) => /^[0-9a-f]{16}$/.test(id) && id !== '0000000000000000')).toBe(
      true,
    );
    expect(newId(16)).toMatch(/^[0-9a-f]{32}$/);
  });
});
