// The error convention every package builds on: a stable code, the cause, the subclass's name,
// and invalid options named with their component.
import { describe, expect, it } from 'vitest';
import {
  describeError,
  InvalidOptionError,
  ListenError,
  MeskitError,
  optionChecks,
  redactUrl,
} from '../dist/index.js';

class ThingError extends MeskitError<'BROKEN' | 'GONE'> {}

describe('MeskitError', () => {
  it('keeps code and cause, and takes the subclass name', () => {
    const cause = new Error('socket closed');
    const error = new ThingError('GONE', 'the thing went away; start it again', { cause });
    expect(error).toBeInstanceOf(Error);
    expect(error).toBeInstanceOf(MeskitError);
    expect(error.name).toBe('ThingError');
    expect(error.code).toBe('GONE');
    expect(error.cause).toBe(cause);
    expect(describeError(error)).toBe('GONE the thing went away; start it again: socket closed');
  });

  it('InvalidOptionError names the component, the option and what it takes', () => {
    const error = new InvalidOptionError({
      component: 'createThing',
      option: 'cache.ttlMs',
      problem: 'must be an integer from 1 to 10, got 0',
    });
    expect(error).toBeInstanceOf(MeskitError);
    expect(error.name).toBe('InvalidOptionError');
    expect(error.code).toBe('INVALID_OPTION');
    expect(error.component).toBe('createThing');
    expect(error.option).toBe('cache.ttlMs');
    expect(error.message).toBe(
      'createThing: option cache.ttlMs must be an integer from 1 to 10, got 0',
    );
  });

  it('ListenError carries the address', () => {
    const error = new ListenError('127.0.0.1', 8080, 'in use');
    expect(error).toMatchObject({ code: 'LISTEN_FAILED', host: '127.0.0.1', port: 8080 });
  });
});

describe('optionChecks', () => {
  const check = optionChecks('createThing');

  it('passes good values through', () => {
    expect(check.integer('port', 0, 0, 65_535)).toBe(0);
    expect(check.number('ratio', 0.5, 0, 1)).toBe(0.5);
    expect(check.text('name', 'a')).toBe('a');
    expect(check.optionalText('name', undefined)).toBeUndefined();
    expect(check.boolean('on', false)).toBe(false);
    expect(check.oneOf('mode', 'b', ['a', 'b'])).toBe('b');
    expect(check.object('opts', { a: 1 }, '{ a }')).toEqual({ a: 1 });
  });

  it.each([
    [
      () => check.integer('port', 1.5, 0, 65_535),
      'port',
      /must be an integer from 0 to 65535, got 1.5/,
    ],
    [() => check.integer('port', '80', 0, 65_535), 'port', /got "80"/],
    [() => check.number('ratio', Number.NaN, 0, 1), 'ratio', /must be a number from 0 to 1/],
    [() => check.text('name', ''), 'name', /must be a non-empty string/],
    [() => check.optionalText('name', 3), 'name', /must be a non-empty string when given/],
    [() => check.boolean('on', 'yes'), 'on', /must be a boolean/],
    [() => check.oneOf('mode', 'c', ['a', 'b']), 'mode', /must be one of a, b, got "c"/],
    [() => check.object('opts', [], '{ a }'), 'opts', /must be an object like \{ a \}/],
  ])('%# throws InvalidOptionError naming the option', (run, option, message) => {
    let thrown: unknown;
    try {
      run();
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(InvalidOptionError);
    expect(thrown).toMatchObject({ component: 'createThing', option });
    expect((thrown as Error).message).toMatch(message);
  });
});

describe('redactUrl', () => {
  it('hides the password and keeps the rest; an unparseable URL says so', () => {
    expect(redactUrl('amqp://mes:s3cret@rabbit:5672/vh')).toBe('amqp://mes:***@rabbit:5672/vh');
    expect(redactUrl('postgres://mes@db/mes')).toBe('postgres://mes@db/mes');
    expect(redactUrl('not a url s3cret')).toBe('<unparseable URL>');
  });
});
