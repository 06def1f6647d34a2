// Programmer errors are refused at construction, naming the option.
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import {
  createPublisher,
  DEFAULTS,
  InvalidOptionError,
  type PublisherOptions,
} from '../dist/index.js';

function refused(opts: unknown): InvalidOptionError {
  try {
    createPublisher({ registry: new Registry(), ...(opts as object) } as PublisherOptions);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidOptionError);
    return error as InvalidOptionError;
  }
  throw new Error('createPublisher accepted invalid options');
}

describe('createPublisher options', () => {
  it.each([
    [{}, 'url', /must be an amqp:\/\/ URL/],
    [{ url: 'http://rabbit' }, 'url', /must be an amqp:\/\/ or amqps:\/\/ URL/],
    [{ url: ['amqp://a', 'nope'] }, 'url[1]', /must be an amqp/],
    [{ url: 'amqp://a', timeoutMs: 0 }, 'timeoutMs', /integer from 1/],
    [{ url: 'amqp://a', buffer: { maxMessages: 0 } }, 'buffer.maxMessages', /integer from 1/],
    [{ url: 'amqp://a', buffer: { overflow: 'drop' } }, 'buffer.overflow', /one of reject, block/],
    [{ url: 'amqp://a', reconnectMinMs: 500, reconnectMaxMs: 100 }, 'reconnectMaxMs', /at least/],
  ])('%j is refused naming %s', (opts, option, message) => {
    const error = refused(opts);
    expect(error).toMatchObject({ code: 'INVALID_OPTION', component: 'createPublisher', option });
    expect(error.message).toMatch(message);
  });

  it('documents its defaults', () => {
    expect(DEFAULTS).toMatchObject({ timeoutMs: 30_000, maxMessages: 10_000, overflow: 'reject' });
  });
});
