import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { createCacheProxy, type CacheProxy } from '@meskit/cache-proxy';
import { seedOrders } from '@meskit/reference-mes';
import { startServices } from '@meskit/services';
import { defineBenchmark } from '../lib/bench.js';
import { createDatabase, settleAfterSeed } from '../lib/database.js';
import { startHttpProxy, startUndiciProxy, type Forwarder } from '../lib/forwarders.js';
import { spawnMes, type MesProcess } from '../lib/mes-process.js';
import { startNginxCache } from '../lib/nginx.js';
import { round } from '../lib/stats.js';
import { runWrk, type WrkResult } from '../lib/wrk.js';

const FIRST_PAGE = '/api/orders?status=MANUFACTURING_APPROVED&page=1&pageSize=20';
/** A pass-through request (one indexed query) for the forwarding comparison. */
const ONE_ORDER = '/api/orders/5000';

/** Fails the benchmark on any error answer: an error is not a fast answer. */
async function load(url: string, seconds: number, connections: number): Promise<WrkResult> {
  // A 60 s timeout: the direct MES at 1M orders answers in seconds under this load, and a
  // slow answer is the measurement, not an error.
  const result = await runWrk(url, { seconds, connections, timeoutSeconds: 60 });
  if (result.errors > 0) throw new Error(`${url}: ${result.errors} failed requests under load`);
  return result;
}

/** Fetches once (fills a cache) and checks the answer is the MES's list. */
async function warm(url: string): Promise<void> {
  const response = await fetch(url);
  const body = (await response.json()) as { items?: unknown[]; total?: number };
  if (!response.ok || !Array.isArray(body.items) || body.items.length === 0)
    throw new Error(`${url} answered ${response.status} without orders`);
}

function row(name: string, r: WrkResult): (string | number)[] {
  return [name, Math.round(r.requestsPerSecond), r.p50Ms, r.p99Ms];
}

/**
 * The new-orders page at 1M orders: the reference MES direct, through the warm cache-proxy
 * (Redis index) and through nginx proxy_cache (TTL caching, the commodity alternative), plus
 * the proxied page at 10k orders (growth). And the forwarding of a pass-through request by
 * the proxy's own forwarder, http-proxy and undici, against the MES direct.
 */
export const cache = defineBenchmark({
  name: 'cache',
  description:
    'first page direct vs cache-proxy vs nginx proxy_cache at 1M orders, growth 10k -> 1M, forwarding: ours vs http-proxy vs undici',
  defaults: { orders: 1_000_000, small: 10_000, seconds: 5, connections: 16 },
  async run({ options: { orders: large, small, seconds, connections }, log }) {
    if (large <= small) throw new Error('--orders must exceed --small');
    const services = await startServices({ only: ['postgres', 'redis'], replica: false, log });
    const dir = mkdtempSync(join(tmpdir(), 'meskit-bench-cache-'));
    const closers: (() => Promise<void>)[] = [];
    const proxy = async (mes: MesProcess, keyPrefix: string): Promise<CacheProxy> => {
      const started = await createCacheProxy({
        upstream: mes.url,
        port: 0,
        redis: services.urls.REDIS_URL!,
        keyPrefix,
        registry: new Registry(),
      });
      closers.push(() => started.close());
      return started;
    };
    try {
      const databaseUrl = await createDatabase(services.urls.DATABASE_URL!, 'mes_bench_cache');
      const mes = await spawnMes({
        env: { DATABASE_URL: databaseUrl, MES_MODEL_DIR: dir, MES_LOG_LEVEL: 'warn' },
        stderrFile: join(dir, 'mes.log'),
      });
      closers.push(() => mes.stop());
      const now = new Date();

      log(`seeding ${small.toLocaleString('en-US')} orders`);
      await seedOrders({ databaseUrl, orders: small, now });
      await settleAfterSeed(databaseUrl);
      const atSmall = await proxy(mes, 'bench:small:');
      await warm(`${atSmall.url}${FIRST_PAGE}`);
      await load(`${atSmall.url}${FIRST_PAGE}`, 1, connections);
      const proxiedSmall = await load(`${atSmall.url}${FIRST_PAGE}`, seconds, connections);
      log(`proxied at ${small.toLocaleString('en-US')}: p50 ${proxiedSmall.p50Ms} ms`);

      // Forwarding of a pass-through request (measured here, at the small size: the indexed
      // get-one query costs the same at any size).
      const forwarders: [string, Forwarder][] = [
        ['http-proxy 1.18 (keep-alive agent)', await startHttpProxy(mes.url)],
        ['undici 8 Pool', await startUndiciProxy(mes.url)],
      ];
      for (const [, forwarder] of forwarders) closers.push(() => forwarder.close());
      // Interleaved rounds, the median round of each: the machine is noisy.
      const targets: [string, string][] = [
        ['MES direct', mes.url],
        ['cache-proxy forwarder', atSmall.url],
        ...forwarders.map(([label, f]): [string, string] => [label, f.url]),
      ];
      const runs = new Map<string, WrkResult[]>(targets.map(([name]) => [name, []]));
      for (let round_ = 0; round_ < 3; round_++) {
        for (const [name, url] of targets) {
          await load(`${url}${ONE_ORDER}`, 1, connections);
          runs.get(name)!.push(await load(`${url}${ONE_ORDER}`, seconds, connections));
        }
      }
      const forwarding: [string, WrkResult][] = targets.map(([name]) => {
        const sorted = [...runs.get(name)!].sort(
          (a, b) => a.requestsPerSecond - b.requestsPerSecond,
        );
        return [name, sorted[1]!];
      });
      for (const [name, r] of forwarding)
        log(`forwarding, ${name}: ${Math.round(r.requestsPerSecond)} req/s (median of 3)`);

      // Done with the small index and the forwarders: the small proxy's reconcile would
      // otherwise fill against the 1M-order MES (two full scans) during the measurements.
      await atSmall.close();
      for (const [, forwarder] of forwarders) await forwarder.close();

      log(`seeding up to ${large.toLocaleString('en-US')} orders`);
      await seedOrders({ databaseUrl, orders: large - small, now });
      await settleAfterSeed(databaseUrl);
      // A fresh index: the seed wrote behind the proxy's back (no events), as a bulk import would.
      const atLarge = await proxy(mes, 'bench:large:');
      await warm(`${atLarge.url}${FIRST_PAGE}`);
      await load(`${atLarge.url}${FIRST_PAGE}`, 1, connections);
      const proxied = await load(`${atLarge.url}${FIRST_PAGE}`, seconds, connections);
      log(`proxied at ${large.toLocaleString('en-US')}: p99 ${proxied.p99Ms} ms`);
      const nginx = await startNginxCache({
        upstream: mes.url,
        dir: join(dir, 'nginx'),
        ttlSeconds: 5,
        log,
      });
      closers.push(() => nginx.stop());
      await warm(`${nginx.url}${FIRST_PAGE}`);
      await load(`${nginx.url}${FIRST_PAGE}`, 1, connections);
      const viaNginx = await load(`${nginx.url}${FIRST_PAGE}`, seconds, connections);
      log(
        `nginx proxy_cache at ${large.toLocaleString('en-US')}: ${Math.round(viaNginx.requestsPerSecond)} req/s`,
      );
      // The direct MES last: its slow queries go on in PostgreSQL after wrk stops, and would
      // load the machine during whatever came next.
      const direct = await load(`${mes.url}${FIRST_PAGE}`, seconds, connections);
      log(`direct at ${large.toLocaleString('en-US')}: p99 ${direct.p99Ms} ms`);

      const ratios = {
        p99Speedup: round(direct.p99Ms / proxied.p99Ms, 1),
        vsNginx: round(proxied.requestsPerSecond / viaNginx.requestsPerSecond, 3),
        growth: round(proxied.p50Ms / proxiedSmall.p50Ms, 2),
      };
      const forwardingJson = Object.fromEntries(forwarding.map(([name, r]) => [name, r]));
      return {
        table: [
          [`first page, ${connections} connections, ${seconds} s`, 'req/s', 'p50 (ms)', 'p99 (ms)'],
          row(`MES direct, ${large.toLocaleString('en-US')} orders`, direct),
          row(`cache-proxy (Redis index), ${large.toLocaleString('en-US')} orders`, proxied),
          row(`nginx proxy_cache (5 s TTL), ${large.toLocaleString('en-US')} orders`, viaNginx),
          row(`cache-proxy, ${small.toLocaleString('en-US')} orders`, proxiedSmall),
          ['forwarding GET /api/orders/:id (median of 3 rounds)', 'req/s', 'p50 (ms)', 'p99 (ms)'],
          ...forwarding.map(([name, r]) => row(name, r)),
          ['ratios', JSON.stringify(ratios), '', ''],
        ],
        json: {
          bench: 'cache',
          orders: { small, large },
          seconds,
          connections,
          direct,
          proxied,
          nginx: viaNginx,
          proxiedSmall,
          forwarding: forwardingJson,
          ratios,
        },
      };
    } finally {
      for (const close of closers.reverse()) await close().catch(() => undefined);
      await services.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
});
