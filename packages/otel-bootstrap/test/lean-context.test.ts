import { ROOT_CONTEXT, createContextKey, trace } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { EnterableContextManager } from '../src/internal/context-manager.js';
import { LEAN_ROOT_CONTEXT, LeanContext } from '../src/internal/lean-context.js';

const A = createContextKey('meskit.test.a');
const B = createContextKey('meskit.test.b');

describe('LeanContext', () => {
  it("behaves as the API's BaseContext: immutable, each change a new context", () => {
    for (const root of [ROOT_CONTEXT, LEAN_ROOT_CONTEXT]) {
      const one = root.setValue(A, 1);
      const two = one.setValue(B, 2).setValue(A, 3);
      expect([root.getValue(A), one.getValue(A), one.getValue(B)]).toEqual([
        undefined,
        1,
        undefined,
      ]);
      expect([two.getValue(A), two.getValue(B)]).toEqual([3, 2]);
      const without = two.deleteValue(A);
      expect([without.getValue(A), without.getValue(B), two.getValue(A)]).toEqual([
        undefined,
        2,
        3,
      ]);
    }
  });

  it('has no per-instance functions, and stays lean through the API', () => {
    const span = trace.wrapSpanContext({
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      traceFlags: 0,
    });
    const withSpan = trace.setSpan(LEAN_ROOT_CONTEXT, span);
    expect(withSpan).toBeInstanceOf(LeanContext);
    expect(Object.keys(withSpan)).toEqual([]);
    expect(trace.getSpan(withSpan)).toBe(span);
    expect(trace.deleteSpan(withSpan)).toBeInstanceOf(LeanContext);
    // The API's own root gives each context three closures.
    expect(Object.keys(trace.setSpan(ROOT_CONTEXT, span))).toEqual(
      expect.arrayContaining(['getValue', 'setValue', 'deleteValue']),
    );
  });

  it("is the context manager's active context when none is entered", () => {
    const manager = new EnterableContextManager().enable();
    try {
      expect(manager.active()).toBe(LEAN_ROOT_CONTEXT);
      const entered = LEAN_ROOT_CONTEXT.setValue(A, 'x');
      expect(manager.with(entered, () => manager.active().getValue(A))).toBe('x');
      expect(manager.active()).toBe(LEAN_ROOT_CONTEXT);
    } finally {
      manager.disable();
    }
  });
});
