// The local stack the collections run against: on the run's servers (a services run to attach
// to, or one started here), a reference MES on a fresh, seeded database of its own, a
// cache-proxy in front of it (index in Redis, fed by the MES's events, admin on a token), a
// pricing sidecar, and the telemetry /metrics server, all on 127.0.0.1 and free ports.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createCacheProxy, type CacheProxy } from '@meskit/cache-proxy';
import { startTelemetry, type Telemetry } from '@meskit/otel-bootstrap';
import {
  createPricingRunner,
  createPricingServer,
  type PricingQuote,
  type PricingRunner,
  type PricingServer,
} from '@meskit/pricing-runner';
import { attachServices, startServices, type Services } from '@meskit/services';
import {
  deleteConsumerTopology,
  startTestMes,
  uniqueName,
  waitFor,
  type TestMes,
} from '@meskit/testkit';
import { Redis } from 'ioredis';

/** Orders seeded before the MES starts: about 4 % are MANUFACTURING_APPROVED, for the takes. */
export const SEEDED_ORDERS = 2000;

export interface LocalStack {
  /** The environment's values for this stack: base URLs and the admin token. */
  readonly values: Readonly<Record<string, string>>;
  /** Stops everything it started, the servers of the run only if it started them. */
  close(): Promise<void>;
}

/**
 * Starts the stack. `servicesDir` (MESKIT_SERVICES_DIR) attaches to a running services run;
 * without it, PostgreSQL, Redis and RabbitMQ are started for this run and stopped by close().
 */
export async function startLocalStack(opts: {
  servicesDir: string | undefined;
  log: (line: string) => void;
}): Promise<LocalStack> {
  const closers: Array<() => Promise<unknown>> = [];
  const close = async (): Promise<void> => {
    // In reverse order of start: the proxy before the MES, the MES before its servers.
    for (const closer of closers.splice(0).reverse()) {
      await closer().catch((error: unknown) => opts.log(`closing: ${String(error)}`));
    }
  };
  try {
    let services: Services;
    if (opts.servicesDir && existsSync(opts.servicesDir)) {
      services = attachServices(opts.servicesDir);
      opts.log(`attached to the servers under ${opts.servicesDir}`);
    } else {
      services = await startServices({
        only: ['postgres', 'redis', 'rabbitmq'],
        replica: false,
        tls: false,
        log: opts.log,
      });
      closers.push(() => services.close());
    }
    // The test kit reads the servers' URLs from the environment outside vitest.
    Object.assign(process.env, services.urls);
    const { AMQP_URL: amqpUrl, REDIS_URL: redisUrl } = services.urls;
    if (!amqpUrl || !redisUrl) throw new Error('the services run has no RabbitMQ or no Redis');

    // Telemetry first: its HTTP metrics then see every server started after it.
    const telemetry: Telemetry = startTelemetry({
      serviceName: 'meskit-api-tests',
      tracing: false,
      lokiUrl: false,
      logStdout: false,
      handleSignals: false,
      metricsPort: 0,
      metricsHost: '127.0.0.1',
      instrumentations: { http: false, pg: false, amqplib: false, ioredis: false, pino: false },
    });
    closers.push(() => telemetry.shutdown());
    const metricsUrl = await telemetry.metricsUrl();
    if (!metricsUrl) throw new Error('the telemetry /metrics server did not listen (see warning)');

    const mes: TestMes = await startTestMes({
      prefix: 'api_tests',
      amqp: true,
      seedOrders: SEEDED_ORDERS,
    });
    closers.push(() => mes.close());

    const adminToken = randomBytes(24).toString('base64url');
    const keyPrefix = `${uniqueName('api-tests')}:`;
    const queue = uniqueName('api-tests.cache-proxy');
    closers.push(async () => {
      await deleteConsumerTopology(amqpUrl, queue);
      await deleteKeys(redisUrl, keyPrefix);
    });
    const proxy: CacheProxy = await createCacheProxy({
      upstream: mes.url,
      host: '127.0.0.1',
      port: 0,
      redis: redisUrl,
      keyPrefix,
      amqpUrl,
      exchange: mes.exchange,
      queue,
      adminToken,
      adminHost: '127.0.0.1',
      adminPort: 0,
    });
    closers.push(() => proxy.close());
    if (!proxy.adminUrl) throw new Error('the cache proxy started no admin server');
    // Its consumer drops every index as it starts consuming (events may have been missed):
    // ready once that is behind it, or the first reads would see their index dropped.
    await waitFor('the cache proxy consumes order events', () => {
      return proxy.stats().consumer === 'connected';
    });

    const runner: PricingRunner<PricingQuote> = createPricingRunner({ threads: 1 });
    closers.push(() => runner.close());
    const pricing: PricingServer = await createPricingServer({
      runner,
      host: '127.0.0.1',
      port: 0,
    });
    closers.push(() => pricing.close());

    return {
      values: {
        mesUrl: mes.url,
        proxyUrl: proxy.url,
        adminUrl: proxy.adminUrl,
        adminToken,
        pricingUrl: pricing.url,
        metricsUrl: metricsUrl.replace(/\/metrics$/, ''),
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Removes the proxy's index keys from the shared Redis. */
async function deleteKeys(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
