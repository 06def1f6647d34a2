import { describe, expect, it } from 'vitest';
import { createRedactor, redactText } from '../src/index.js';

describe('redactText', () => {
  it.each([
    ['postgres://mes:hunter22@db:5432/mes', 'postgres://mes:***@db:5432/mes'],
    ['connect to postgresql://u:p%40ss@h/db failed', 'connect to postgresql://u:***@h/db failed'],
    ['amqp://guest:guest@127.0.0.1:5672', 'amqp://guest:***@127.0.0.1:5672'],
    ['redis://:s3cret@cache:6379/0', 'redis://:***@cache:6379/0'],
    ['postgres://mes@db/mes', 'postgres://mes@db/mes'],
    ['Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig', 'Authorization: Bearer ***'],
    ['Basic dXNlcjpwYXNzd29yZA==', 'Basic ***'],
    ['Basic authentication is disabled', 'Basic authentication is disabled'],
    ['GET /cb?code=1&access_token=abc123&x=2', 'GET /cb?code=1&access_token=***&x=2'],
    ['host=db user=mes password=hunter22 dbname=mes', 'host=db user=mes password=*** dbname=mes'],
    ['nothing to see here', 'nothing to see here'],
  ])('%s', (input, expected) => {
    expect(redactText(input)).toBe(expected);
  });
});

describe('createRedactor().value', () => {
  const redactor = createRedactor();

  it('masks secret keys at any depth, whatever the value type', () => {
    const input = {
      user: 'ana',
      request: {
        headers: {
          authorization: 'Bearer x',
          cookie: 'sid=1',
          'set-cookie': ['a=1', 'b=2'],
          accept: '*/*',
        },
        body: {
          order: { items: [{ sku: 'R-1', apiKey: 'k' }] },
          credentials: { user: 'u', pass: 'p' },
        },
      },
      db_password: 'hunter22',
      clientSecret: 's',
      refresh_token: 't',
    };
    expect(redactor.value(input)).toEqual({
      user: 'ana',
      request: {
        headers: { authorization: '***', cookie: '***', 'set-cookie': '***', accept: '*/*' },
        body: { order: { items: [{ sku: 'R-1', apiKey: '***' }] }, credentials: '***' },
      },
      db_password: '***',
      clientSecret: '***',
      refresh_token: '***',
    });
  });

  it('removes credentials from URLs inside any string value', () => {
    expect(
      redactor.value({ config: { url: 'postgres://u:pw@h/db', list: ['amqp://a:b@mq'] } }),
    ).toEqual({
      config: { url: 'postgres://u:***@h/db', list: ['amqp://a:***@mq'] },
    });
  });

  it('returns the same object when nothing needs masking (no copy on the common path)', () => {
    const input = { orderId: 42, status: 'NEW', nested: { ok: true } };
    expect(redactor.value(input)).toBe(input);
  });

  it('does not modify the caller’s object', () => {
    const input = { password: 'hunter22', nested: { token: 't' } };
    redactor.value(input);
    expect(input).toEqual({ password: 'hunter22', nested: { token: 't' } });
  });

  it('keeps errors errors, with the credentials gone from message, stack and fields', () => {
    class PgError extends Error {
      detail = 'seen at postgres://mes:hunter22@db/mes';
    }
    const err = new PgError('cannot connect to postgres://mes:hunter22@db/mes');
    const redacted = redactor.value(err);
    expect(redacted).toBeInstanceOf(PgError);
    expect(redacted.message).toBe('cannot connect to postgres://mes:***@db/mes');
    expect(redacted.stack).not.toContain('hunter22');
    expect(redacted.detail).toBe('seen at postgres://mes:***@db/mes');
    expect(err.message).toContain('hunter22');
  });

  it('survives cycles', () => {
    const input: Record<string, unknown> = { password: 'p' };
    input['self'] = input;
    const redacted = redactor.value(input);
    expect(redacted['password']).toBe('***');
  });

  it('masks configured extra keys (strings whole and case-insensitive, or patterns)', () => {
    const custom = createRedactor(['X-Operator-Pin', /^iban$/i]);
    expect(custom.value({ 'x-operator-pin': '1234', IBAN: 'DE00', name: 'n' })).toEqual({
      'x-operator-pin': '***',
      IBAN: '***',
      name: 'n',
    });
  });
});

describe('createRedactor().line', () => {
  const redactor = createRedactor();

  it('masks "secret-key":"value" pairs and URL credentials in a finished JSON line', () => {
    const line = `${JSON.stringify({ msg: 'connecting to postgres://u:pw@db/x', client: { password: 'hunter22' }, level: 30 })}\n`;
    const redacted = redactor.line(line);
    expect(JSON.parse(redacted)).toEqual({
      msg: 'connecting to postgres://u:***@db/x',
      client: { password: '***' },
      level: 30,
    });
  });

  it('leaves a line without secrets byte for byte', () => {
    const line = `${JSON.stringify({ msg: 'order 42 taken', orderId: 42 })}\n`;
    expect(redactor.line(line)).toBe(line);
  });
});
