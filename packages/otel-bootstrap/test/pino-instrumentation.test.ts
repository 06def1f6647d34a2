// The lean trace-id mixin of src/internal/pino-instrumentation.ts writes what
// instrumentation-pino's own mixin writes, for sampled, unsampled, invalid and absent spans,
// and upstream's mixin stays wherever the configuration asks for what only it does.
import { ROOT_CONTEXT, context, trace, TraceFlags, type SpanContext } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { PinoInstrumentation } from '@opentelemetry/instrumentation-pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pinoInstrumentation } from '../src/internal/pino-instrumentation.js';

type Mixin = ((...args: unknown[]) => Record<string, string>) & { name: string };
const mixinOf = (instrumentation: PinoInstrumentation): Mixin =>
  (instrumentation as unknown as { _getMixinFunction(): Mixin })._getMixinFunction();

const manager = new AsyncLocalStorageContextManager();
beforeAll(() => {
  context.setGlobalContextManager(manager.enable());
});
afterAll(() => {
  context.disable();
});

const under = <T>(spanContext: SpanContext | undefined, fn: () => T): T =>
  context.with(
    spanContext === undefined ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, spanContext),
    fn,
  );

describe('pinoInstrumentation', () => {
  const lean = pinoInstrumentation({ disableLogSending: true });
  const upstream = new PinoInstrumentation({ disableLogSending: true });
  afterAll(() => {
    lean.disable();
    upstream.disable();
  });

  it('installs the lean mixin by default', () => {
    expect(mixinOf(lean).name).toBe('meskitTraceMixin');
  });

  it.each([
    [
      'sampled',
      {
        traceId: '0af7651916cd43dd8448eb211c80319c',
        spanId: 'b7ad6b7169203331',
        traceFlags: TraceFlags.SAMPLED,
      },
    ],
    [
      'not sampled',
      {
        traceId: '0af7651916cd43dd8448eb211c80319c',
        spanId: 'b7ad6b7169203331',
        traceFlags: TraceFlags.NONE,
      },
    ],
    [
      'invalid',
      {
        traceId: '00000000000000000000000000000000',
        spanId: '0000000000000000',
        traceFlags: TraceFlags.NONE,
      },
    ],
    ['absent', undefined],
  ])('writes what upstream writes for a span that is %s', (_, spanContext) => {
    const ours = under(spanContext, () => mixinOf(lean)({}, 30));
    const theirs = under(spanContext, () => mixinOf(upstream)({}, 30));
    expect(ours).toEqual(theirs);
    // pino assigns the line's fields into it: each line gets an object of its own.
    expect(under(spanContext, () => mixinOf(lean)({}, 30))).not.toBe(ours);
  });

  it('writes nothing once disabled', () => {
    const off = pinoInstrumentation({ disableLogSending: true });
    off.disable();
    const sampled = {
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      traceFlags: 1,
    };
    expect(under(sampled, () => mixinOf(off)({}, 30))).toEqual({});
  });

  it('keeps upstream mixin for logKeys, logHook and disableLogCorrelation', () => {
    for (const config of [
      { logKeys: { traceId: 't', spanId: 's', traceFlags: 'f' } },
      { logHook: () => undefined },
      { disableLogCorrelation: true },
    ]) {
      const instrumentation = pinoInstrumentation(config);
      expect(mixinOf(instrumentation).name).not.toBe('meskitTraceMixin');
      instrumentation.disable();
    }
  });
});
