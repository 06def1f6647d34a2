import { describe, expect, it } from 'vitest';
import {
  collectSecrets,
  passwordsOf,
  redactDeep,
  redactText,
  redactUrl,
} from '../src/internal/redact.js';

describe('redaction', () => {
  it('masks the password of URLs in text, keeping user, host and path', () => {
    expect(redactUrl('postgres://mes:pw@db:5432/mes')).toBe('postgres://mes:***@db:5432/mes');
    expect(redactUrl('redis://:pw@cache:6379/0')).toBe('redis://:***@cache:6379/0');
    expect(redactText('a amqp://u:p%40ss@mq/vh and http://x:y@h/health')).toBe(
      'a amqp://u:***@mq/vh and http://x:***@h/health',
    );
    // No password, nothing to hide.
    expect(redactUrl('postgres://postgres@127.0.0.1:5432/postgres')).toBe(
      'postgres://postgres@127.0.0.1:5432/postgres',
    );
  });

  it('collects raw and decoded passwords of configured URLs and of URL-valued env vars', () => {
    expect(passwordsOf('postgres://u:a%2Fb%40c@h/d')).toEqual(['a%2Fb%40c', 'a/b@c']);
    expect(passwordsOf('not a url')).toEqual([]);
    const secrets = collectSecrets(['redis://:cachepass@h'], {
      SOME_URL: 'amqp://u:queuepass@mq',
      PLAIN: 'queuepass2 is not a URL',
    });
    expect(secrets).toEqual(['cachepass', 'queuepass']);
  });

  it('masks literal secrets anywhere, but leaves very short ones to URL masking', () => {
    const secrets = collectSecrets(['postgres://u:pw@h/d', 'postgres://u:longer-secret@h/d'], {});
    expect(secrets).toEqual(['longer-secret']);
    expect(redactText('auth longer-secret failed for pw', secrets)).toBe('auth *** failed for pw');
  });

  it('redacts inside nested values and masks secret-named keys entirely', () => {
    const value = {
      url: 'amqp://u:topsecret@mq',
      list: ['topsecret', 1, null],
      token: 'abc',
      authorization: 'Bearer abc',
      when: new Date(0),
      ok: true,
    };
    expect(redactDeep(value, ['topsecret'])).toEqual({
      url: 'amqp://u:***@mq',
      list: ['***', 1, null],
      token: '***',
      authorization: '***',
      when: '1970-01-01T00:00:00.000Z',
      ok: true,
    });
  });
});
