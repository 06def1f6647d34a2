// The stack the E2E journeys drive: the reference MES under telemetry, on reliable messaging
// (mq-reliable) and reading its replica through db-router, pricing with pricing-runner in worker
// threads (results cached in Redis), with cache-proxy in front of it (the index in Redis, the
// MES's order events consumed), and the MES's operators' page reading its list through that
// proxy, as the operators would open it. Real headless Chromium (Debian's, installed by the
// repo's installer when missing) through playwright-core, which downloads no browser of its own.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { createCacheProxy, type CacheProxy } from '@meskit/cache-proxy';
import { startTelemetry, type Telemetry } from '@meskit/otel-bootstrap';
import { startOtlpReceiver, type OtlpReceiver } from '@meskit/otel-bootstrap/testing';
import {
  ensureInstalled,
  freePort,
  locate,
  startPostgres,
  startRabbitMq,
  type PostgresPair,
  type RabbitMqServer,
} from '@meskit/services';
import { serviceUrls, startTestMes, uniqueName, waitFor, type TestMes } from '@meskit/testkit';
import { Registry } from 'prom-client';

export interface StackOptions {
  /**
   * A RabbitMQ and a PostgreSQL primary + streaming replica of the stack's own (under `dir`),
   * for journeys that restart them. Default: the run's servers (its primary and replica).
   */
  ownServersDir?: string;
}

export interface Stack {
  mes: TestMes;
  /** Where the stack's spans go (the MES and the proxy run in this process, under telemetry). */
  otlp: OtlpReceiver;
  /** The RabbitMQ the MES and the proxy use (the CRM's events go there). */
  amqpUrl: string;
  /** The Redis of the proxy's index and of the pricing runner's results. */
  redisUrl: string;
  /** The prefix of the pricing runner's result keys in Redis. */
  pricingKeyPrefix: string;
  /** With `ownServersDir`: the broker and the database pair, to restart. */
  broker: RabbitMqServer | undefined;
  postgres: PostgresPair | undefined;
  proxy: CacheProxy;
  browser: Browser;
  /** Every page a journey opened, for the screenshots of a failure. */
  pages: Map<string, Page>;
  /**
   * A fresh browser context (one operator) with its page, named for the screenshots; `headers`
   * go with every request it makes (a journey's traceparent).
   */
  operator(name: string, headers?: Record<string, string>): Promise<Page>;
  close(): Promise<void>;
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  ensureInstalled(['chromium']);
  // Telemetry first, as `--import @meskit/otel-bootstrap/register` would start it: every
  // server the stack starts after it is traced, spans to a receiver of the OTLP/HTTP protocol.
  const otlp = await startOtlpReceiver();
  const telemetry: Telemetry = startTelemetry({
    serviceName: 'meskit-e2e',
    otlpTracesUrl: otlp.tracesUrl,
    metricsPort: false,
    logStdout: false,
    handleSignals: false,
    scheduledDelayMs: 100,
  });
  const dir = opts.ownServersDir;
  const [broker, postgres] = dir ? await startOwnServers(dir) : [undefined, undefined];
  // The page reads its list through the proxy, which forwards to the MES: the MES must know
  // the proxy's address before the proxy knows the MES's, so the port is chosen first.
  const proxyPort = await freePort();
  const urls = serviceUrls();
  const { redisUrl } = urls;
  const prefix = uniqueName('e2e');
  const pricingKeyPrefix = `${prefix}:pricing:`;
  const mes = await startTestMes({
    prefix: 'e2e',
    amqp: true,
    messaging: 'reliable',
    ...(broker ? { amqpUrl: broker.url } : {}),
    postgres: postgres
      ? { primaryUrl: postgres.primary.url, replicaUrl: postgres.replica!.url }
      : { primaryUrl: urls.databaseUrl, replicaUrl: urls.replicaUrl },
    pricing: 'runner',
    pricingRunner: {
      threads: 1,
      cache: { redis: redisUrl, keyPrefix: pricingKeyPrefix },
      registry: new Registry(),
    },
    pagesApiUrl: `http://127.0.0.1:${proxyPort}`,
  });
  const amqpUrl = broker?.url ?? urls.amqpUrl;
  const proxy = await createCacheProxy({
    upstream: mes.url,
    port: proxyPort,
    redis: redisUrl,
    keyPrefix: `${prefix}:`,
    amqpUrl,
    exchange: mes.exchange,
    queue: uniqueName('e2e.cache-proxy'),
    registry: new Registry(),
  });
  await waitFor(
    'the proxy consumes the order events',
    () => proxy.stats().consumer === 'connected',
  );
  const browser = await chromium.launch({
    executablePath: locate('chromium'),
    headless: true,
    args: ['--no-sandbox'],
  });
  const pages = new Map<string, Page>();
  return {
    mes,
    otlp,
    amqpUrl,
    redisUrl,
    pricingKeyPrefix,
    broker,
    postgres,
    proxy,
    browser,
    pages,
    async operator(name, headers) {
      const context = await browser.newContext(headers ? { extraHTTPHeaders: headers } : {});
      const page = await context.newPage();
      pages.set(name, page);
      return page;
    },
    async close() {
      await browser.close();
      await proxy.close();
      await mes.close();
      await broker?.close();
      await postgres?.stop();
      await telemetry.shutdown();
      await otlp.close();
    },
  };
}

/**
 * What a timed-out wait of a journey reports: the proxy's stats (its index, events, writes) and
 * the MES's (messages consumed, where its reads went, its replica's lag).
 */
export function stateOf(stack: Stack): string {
  return JSON.stringify({ proxy: stack.proxy.stats(), mes: stack.mes.mes.stats() });
}

/** A RabbitMQ and a PostgreSQL pair under `dir`; if either fails to start, the other is stopped. */
async function startOwnServers(dir: string): Promise<[RabbitMqServer, PostgresPair]> {
  const [broker, postgres] = await Promise.allSettled([
    startRabbitMq({ dir: join(dir, 'rabbitmq') }),
    startPostgres({ dir: join(dir, 'postgres') }),
  ]);
  if (broker.status === 'fulfilled' && postgres.status === 'fulfilled')
    return [broker.value, postgres.value];
  if (broker.status === 'fulfilled') await broker.value.close();
  if (postgres.status === 'fulfilled') await postgres.value.stop();
  throw broker.status === 'rejected' ? broker.reason : (postgres as PromiseRejectedResult).reason;
}

/** Full-page screenshots of every open page, kept under reports/e2e/ for a failed test. */
export async function screenshotAll(stack: Stack | undefined, test: string): Promise<string[]> {
  if (!stack) return [];
  const dir = join('reports', 'e2e');
  mkdirSync(dir, { recursive: true });
  const safe = test.replace(/[^a-z0-9]+/gi, '-').slice(0, 80);
  const written: string[] = [];
  for (const [name, page] of stack.pages) {
    if (page.isClosed()) continue;
    const path = join(dir, `${safe}-${name}.png`);
    await page.screenshot({ path, fullPage: true }).catch(() => undefined);
    written.push(path);
  }
  return written;
}
