// Warn-once: said once per scope with a stable code, never throwing into the host.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createWarnOnce, emitWarning, WARNING_TYPE } from '../dist/index.js';

let warnings: Error[];
const onWarning = (warning: Error) => warnings.push(warning);

beforeEach(() => {
  warnings = [];
  process.on('warning', onWarning);
});
afterEach(() => {
  process.off('warning', onWarning);
});

/** 'warning' events are emitted on the next tick. */
const nextTick = () => new Promise((resolve) => process.nextTick(resolve));

describe('createWarnOnce', () => {
  it('says each code (and key) once per instance, with its code and type', async () => {
    const warnOnce = createWarnOnce();
    warnOnce('MESKIT_TEST_A', 'first');
    warnOnce('MESKIT_TEST_A', 'second');
    warnOnce('MESKIT_TEST_A', 'other key', 'k');
    warnOnce('MESKIT_TEST_B', 'another code');
    createWarnOnce()('MESKIT_TEST_A', 'another instance says it again');
    await nextTick();
    expect(warnings.map((w) => w.message)).toEqual([
      'first',
      'other key',
      'another code',
      'another instance says it again',
    ]);
    expect(warnings[0]).toMatchObject({ name: WARNING_TYPE, code: 'MESKIT_TEST_A' });
  });

  it('with a process key, two instances (two copies of a package) say it once between them', async () => {
    const key = Symbol.for(`meskit.test.warned.${Math.random()}`);
    createWarnOnce({ type: 'MeskitTestWarning', processKey: key })('MESKIT_TEST_C', 'once');
    createWarnOnce({ type: 'MeskitTestWarning', processKey: key })('MESKIT_TEST_C', 'twice');
    await nextTick();
    expect(warnings.map((w) => [w.name, w.message])).toEqual([['MeskitTestWarning', 'once']]);
  });

  it('does not throw when the host made emitWarning throw', () => {
    const original = process.emitWarning;
    process.emitWarning = () => {
      throw new Error('host bug');
    };
    try {
      expect(() => emitWarning('MESKIT_TEST_D', 'swallowed')).not.toThrow();
    } finally {
      process.emitWarning = original;
    }
  });
});
