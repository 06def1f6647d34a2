// `meskit cache stats|invalidate|rebuild` as ops run them: the real binary against the admin
// endpoint of a real cache proxy (createCacheProxy in this process, in-memory store) in front
// of a real reference MES; plus a wrong token, a closed port and bad arguments.
import { createCacheProxy, type CacheProxy } from '@meskit/cache-proxy';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedPort, LINGERING, runMeskit, STACK_TRACE, type BinResult } from './helpers.js';
import { FIRST_PAGE, getPage, startReferenceMes, type TestMes } from './reference-mes.js';

const TOKEN = 'cli-admin-test-token-0b7e45a9';

let mes: TestMes;
let proxy: CacheProxy;
let env: Record<string, string>;

beforeAll(async () => {
  mes = await startReferenceMes();
  proxy = await createCacheProxy({
    upstream: mes.url,
    port: 0,
    adminPort: 0,
    adminToken: TOKEN,
    registry: new Registry(),
  });
  env = { MESKIT_CACHE_ADMIN_URL: proxy.adminUrl!, MESKIT_CACHE_ADMIN_TOKEN: TOKEN };
});

afterAll(async () => {
  await proxy?.close();
  await mes?.close();
});

function expectClean(result: BinResult): void {
  expect(result.signal).toBeNull();
  expect(result.stdout + result.stderr).not.toMatch(STACK_TRACE);
  expect(result.stderr).not.toMatch(LINGERING);
  expect(result.stdout + result.stderr).not.toContain(TOKEN);
}

describe('meskit cache', () => {
  it('invalidate removes an order from the cached list at once; rebuild refills it from the MES', async () => {
    const filled = await getPage(proxy.url, FIRST_PAGE);
    expect(filled.cacheStatus).toMatch(/^meskit; (hit|fwd=(miss|stale); stored)$/);
    const newest = filled.body.items[0]!.id;

    const invalidated = await runMeskit(['cache', 'invalidate', String(newest)], env);
    expectClean(invalidated);
    expect(invalidated.stderr).toBe('');
    expect(invalidated.code).toBe(0);
    expect(invalidated.stdout).toBe(
      `order ${newest} removed from every cached list of the proxy at ${new URL(proxy.adminUrl!).host}: no page read from now on lists it\n`,
    );
    const after = await getPage(proxy.url, FIRST_PAGE);
    expect(after.cacheStatus).toBe('meskit; hit');
    expect(after.body.items.map((item) => item.id)).not.toContain(newest);
    expect(after.body.total).toBe(filled.body.total - 1);

    const rebuilt = await runMeskit(['cache', 'rebuild'], env);
    expectClean(rebuilt);
    expect(rebuilt.code).toBe(0);
    expect(rebuilt.stdout).toContain('dropped: the next read of each list fills it from the MES');
    // The MES still has the order approved: the fill after the rebuild lists it again.
    const refilled = await getPage(proxy.url, FIRST_PAGE);
    expect(refilled.cacheStatus).toMatch(/^meskit; fwd=(miss|stale); stored$/);
    expect(refilled.body.items[0]!.id).toBe(newest);
  });

  it('stats prints a readable summary with the hit ratio, or the JSON with --json', async () => {
    await getPage(proxy.url, FIRST_PAGE);
    const expected = proxy.stats();
    const json = await runMeskit(['cache', 'stats', '--json'], env);
    expectClean(json);
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout) as Record<string, unknown>;
    const { hit, miss, stale, bypass } = expected.requests;
    expect(parsed).toEqual({ ...expected, hitRatio: hit / (hit + miss + stale + bypass) });

    const text = await runMeskit(['cache', 'stats'], env);
    expectClean(text);
    expect(text.code).toBe(0);
    const lines = text.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(
      `cache proxy at ${new URL(proxy.adminUrl!).host}: in-memory store, no event consumer`,
    );
    expect(text.stdout).toMatch(
      new RegExp(
        `hit ratio\\s+\\d+\\.\\d % \\(${hit} of ${hit + miss + stale + bypass} list requests answered from the index\\)`,
      ),
    );
    expect(text.stdout).toMatch(
      /invalidations\s+0 by takes through the proxy, 0 by events, 1 by the admin endpoint/,
    );
  });

  it('exits 1 saying the token was refused when it is wrong', async () => {
    const result = await runMeskit(['cache', 'stats'], {
      ...env,
      MESKIT_CACHE_ADMIN_TOKEN: 'not-the-right-token-at-all',
    });
    expectClean(result);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      `error: the admin token was refused by the cache proxy at ${new URL(proxy.adminUrl!).host} (401): MESKIT_CACHE_ADMIN_TOKEN must be the token the proxy was started with\n`,
    );
    expect(result.stderr).not.toContain('not-the-right-token-at-all');
  });

  it('exits 1 with a one-line reason when the admin endpoint is unreachable', async () => {
    const port = await closedPort();
    for (const args of [['stats'], ['invalidate', '7'], ['rebuild']]) {
      const result = await runMeskit(
        ['cache', ...args, '--admin-url', `http://127.0.0.1:${port}`],
        env,
      );
      expectClean(result);
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(
        `error: cannot reach the cache proxy's admin endpoint at 127.0.0.1:${port}: connection refused (is \`meskit cache-proxy\` running there with an admin token? set --admin-url or MESKIT_CACHE_ADMIN_URL)\n`,
      );
    }
  });

  it('exits 1 when the URL is the public port, not the admin endpoint', async () => {
    const result = await runMeskit(['cache', 'stats', '--admin-url', proxy.url], env);
    expectClean(result);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error: GET \/stats at 127\.0\.0\.1:\d+ answered 404 Not Found/);
    expect(result.stderr).toContain('not its public port');
  });

  it('refuses a bad order id and a missing token with exit 2, before any request', async () => {
    for (const id of ['abc', '0', '-3', '1.5', '99999999999999999999']) {
      const result = await runMeskit(['cache', 'invalidate', id], env);
      expectClean(result);
      expect(result.code).toBe(2);
      expect(result.stderr).toBe(
        `error: the order id must be a positive whole number, got "${id}"\n`,
      );
    }
    const noToken = await runMeskit(['cache', 'stats'], {
      MESKIT_CACHE_ADMIN_URL: proxy.adminUrl!,
    });
    expectClean(noToken);
    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toBe(
      'error: no admin token: set MESKIT_CACHE_ADMIN_TOKEN (or pass --admin-token) to the token the proxy was started with\n',
    );
    const badUrl = await runMeskit(
      ['cache', 'stats', '--admin-url', 'redis://127.0.0.1:6379'],
      env,
    );
    expect(badUrl.code).toBe(2);
    expect(badUrl.stderr).toContain('invalid --admin-url');
  });
});
