// listen(): the URL of the bound address (IPv6 in brackets) or a ListenError saying what to do.
import { once } from 'node:events';
import { createServer } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { httpUrl, listen, ListenError } from '../dist/index.js';

const servers: ReturnType<typeof createServer>[] = [];
afterEach(async () => {
  await Promise.all(
    servers.splice(0).map((s) => (s.listening ? once(s.close(), 'close') : undefined)),
  );
});

function server() {
  const s = createServer((_req, res) => res.end('ok'));
  servers.push(s);
  return s;
}

describe('listen', () => {
  it('resolves with the URL of the port it bound', async () => {
    const url = await listen(server(), { host: '127.0.0.1', port: 0, what: 'test server' });
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(await (await fetch(url)).text()).toBe('ok');
  });

  it('writes IPv6 addresses in brackets', () => {
    expect(httpUrl({ address: '::1', family: 'IPv6', port: 8080 })).toBe('http://[::1]:8080');
    expect(httpUrl({ address: '127.0.0.1', family: 'IPv4', port: 80 })).toBe('http://127.0.0.1:80');
  });

  it('a port in use rejects with ListenError naming the address and the fix', async () => {
    const url = new URL(await listen(server(), { host: '127.0.0.1', port: 0, what: 'first' }));
    const attempt = listen(server(), { host: '127.0.0.1', port: Number(url.port), what: 'second' });
    await expect(attempt).rejects.toBeInstanceOf(ListenError);
    await expect(attempt).rejects.toMatchObject({
      code: 'LISTEN_FAILED',
      host: '127.0.0.1',
      port: Number(url.port),
      message: expect.stringMatching(
        /^second: cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE.*choose another port/,
      ),
    });
  });
});

describe('listen leaves no listener behind', () => {
  // node:http adds listeners of its own (connection tracking on 'listening'): count ours only.
  const counts = (s: ReturnType<typeof server>) => [
    s.listenerCount('listening'),
    s.listenerCount('error'),
  ];

  it('removes its error listener once listening, and its listening listener after an error', async () => {
    const first = server();
    const before = counts(first);
    const url = new URL(await listen(first, { host: '127.0.0.1', port: 0, what: 'first' }));
    expect(counts(first)).toEqual(before);
    const second = server();
    const beforeSecond = counts(second);
    await expect(
      listen(second, { host: '127.0.0.1', port: Number(url.port), what: 'second' }),
    ).rejects.toBeInstanceOf(ListenError);
    expect(counts(second)).toEqual(beforeSecond);
  });
});
