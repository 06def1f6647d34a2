// createReferenceMes: the legacy MES as an in-process server (HTTP API + RabbitMQ consumer).
import { mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InvalidOptionError, listen } from '@meskit/kernel';
import { legacySink, LegacyBus, type EventSink, type MessagingCounters } from './internal/bus.js';
import { createMessageHandler } from './internal/consumer.js';
import { connectError, createPool, redactUrl } from './internal/db.js';
import { createRequestListener } from './internal/http.js';
import { pagesApiBase, pagesApiUrlProblem } from './internal/pages.js';
import { createLogger, isLogLevel, LOG_LEVELS, type LogLevel } from './internal/log.js';
import {
  createPricer,
  isPricingMode,
  PRICING_MODES,
  type MesPricingRunnerOptions,
  type Pricer,
  type PricingMode,
} from './internal/pricing.js';
import { startReliableMessaging, type ReliableMessaging } from './internal/reliable.js';
import { createRoutedPool, type DatabaseStats } from './internal/read-your-writes.js';
import { migrate } from './schema.js';

export interface ReferenceMesOptions {
  /** PostgreSQL URL of the one database the MES uses for everything. Required. */
  databaseUrl: string;
  /** RabbitMQ URL. Default: none, and then no consumer and no events (messaging off). */
  amqpUrl?: string;
  /**
   * Streaming replicas of `databaseUrl`. Given, the MES queries through @meskit/db-router:
   * reads on the replicas, writes on the primary, each request a read-your-writes context
   * (`x-meskit-lsn` in, and out on the answers to writes). Default: none (LEGACY: one pool).
   */
  replicaUrls?: readonly string[];
  /** Interface the HTTP API listens on. Default: '127.0.0.1'. */
  host?: string;
  /** HTTP port. Default: 0 (any free port; read the actual one from the handle). */
  port?: number;
  /** Folder standing in for the S3 model bucket; created if missing. Required. */
  modelDir: string;
  /** Topic exchange for order events (declared durable). Default: 'mes.events'. */
  exchange?: string;
  /**
   * How the MES uses RabbitMQ: `'legacy'` (a plain channel, no confirms, auto-ack, no
   * reconnect: the real MES's habits, events lost when the broker fails) or `'reliable'`
   * (@meskit/mq-reliable: events through a transactional outbox with confirms, the CRM inbox
   * a quorum queue with manual acks, retries, a dead-letter queue and an inbox table).
   * Default: 'legacy'.
   */
  messaging?: MessagingMode;
  /**
   * The MES's inbox queue (declared durable). Default: 'mes.crm-inbox' in legacy mode,
   * 'mes.crm-inbox.quorum' in reliable mode (a quorum queue cannot reuse the classic one's name).
   */
  queue?: string;
  /** Work factor of the legacy pricing (legacyPrice), in `legacy` and `offload` modes. Default: 1.0. */
  pricingWork?: number;
  /**
   * How models are priced, by the B2B upload and the `order.submitted` consumer alike:
   * `'legacy'` (legacyPrice synchronously on the event loop, as the real MES does),
   * `'offload'` (the same legacyPrice run by @meskit/pricing-runner in worker threads, with
   * its bounded queue, timeout and result cache: same prices), or `'runner'`
   * (pricing-runner's own mesh analysis and jewelry price model). Default: 'legacy'.
   */
  pricing?: PricingMode;
  /**
   * The pricing runner of the `offload` and `runner` modes: `threads`, `maxQueue`,
   * `timeoutMs`, `cache`, `registry` (pricing-runner's defaults), and for `runner` only
   * `priceModel` (default: its DEFAULT_PRICE_MODEL) and `alloy` (default: 'gold-585').
   * Ignored in `legacy` mode. Default: {} (pricing-runner's defaults).
   */
  pricingRunner?: MesPricingRunnerOptions;
  /** Largest B2B model upload accepted, in bytes; larger ones get 413. Default: 52428800 (50 MiB). */
  maxUploadBytes?: number;
  /** Create the schema (and operators) if missing when starting. Default: true. */
  migrate?: boolean;
  /**
   * Level of the MES's log (pino JSON lines on stderr: one per HTTP request at `info`, failures
   * at `error`); `silent` for none. Default: 'info'.
   */
  logLevel?: LogLevel;
  /**
   * Base URL the operators' page (`GET /operators`) reads its list from over HTTP
   * (`GET <base>/api/orders?status=MANUFACTURING_APPROVED&page=..&pageSize=20`): the cache
   * proxy in front of this MES, so that operators going through the proxy get the list from its
   * index. http(s), no credentials, query or fragment. Default: none (the page reads the list
   * in-process, by the same query as `GET /api/orders`).
   */
  pagesApiUrl?: string;
  /** Longest wait for `pagesApiUrl`'s answer before the page is a 502. Default: 10 000 ms. */
  pagesApiTimeoutMs?: number;
}

/** Counters of the legacy messaging, served at GET /internal/stats. */
export interface MesStats {
  /** `legacy` or `reliable`. */
  messaging: MessagingMode;
  /** Events handed to the channel (legacy); confirmed by the broker (reliable). */
  published: number;
  /**
   * Published events the broker never confirmed: all of them in legacy mode (the MES never
   * asks); in reliable mode those in flight right now (the outbox keeps the rest).
   */
  publishedUnconfirmed: number;
  /** Events not even handed over (broker gone, channel closed): logged and lost. */
  publishFailures: number;
  /** Messages handled, successfully or not. */
  consumed: number;
  /** Handled messages that had no effect (malformed, unknown order, invalid transition...). */
  consumeFailures: number;
  /** With replicas (db-router): where the queries went, and each replica's lag. */
  database?: DatabaseStats;
}

export const MESSAGING_MODES = ['legacy', 'reliable'] as const;
export type MessagingMode = (typeof MESSAGING_MODES)[number];

export interface ReferenceMes {
  /** Base URL of the HTTP API, e.g. http://127.0.0.1:8080. */
  readonly url: string;
  readonly port: number;
  stats(): MesStats;
  /**
   * Stops the HTTP server, the consumer (after the messages already delivered), the pricing
   * runner (`offload`, `runner`) and the pool.
   */
  close(): Promise<void>;
}

export const DEFAULTS = {
  host: '127.0.0.1',
  port: 0,
  exchange: 'mes.events',
  queue: 'mes.crm-inbox',
  reliableQueue: 'mes.crm-inbox.quorum',
  messaging: 'legacy',
  pricingWork: 1,
  pricing: 'legacy',
  maxUploadBytes: 50 * 1024 * 1024,
  migrate: true,
  logLevel: 'info',
  pagesApiTimeoutMs: 10_000,
} as const;

/** How long close() lets in-flight requests finish before cutting their connections. */
const CLOSE_GRACE_MS = 5_000;

type Config = Required<Omit<ReferenceMesOptions, 'amqpUrl' | 'pagesApiUrl'>> & {
  amqpUrl: string | undefined;
  /** Normalised: no trailing slash. */
  pagesApiUrl: string | undefined;
};

/**
 * Starts the MES. Throws `InvalidOptionError` synchronously for a bad option (a bad
 * `pricingRunner` option rejects with it once the runner is built).
 */
export function createReferenceMes(opts: ReferenceMesOptions): Promise<ReferenceMes> {
  return start(normalise(opts));
}

async function start(config: Config): Promise<ReferenceMes> {
  await mkdir(config.modelDir, { recursive: true });
  if (config.migrate) await migrate(config.databaseUrl);

  const logger = createLogger(config.logLevel);
  const routed =
    config.replicaUrls.length > 0
      ? await createRoutedPool(config.databaseUrl, config.replicaUrls, logger)
      : undefined;
  const pool = routed?.pool ?? createPool(config.databaseUrl, logger);
  const counters: MessagingCounters = {
    published: 0,
    publishFailures: 0,
    consumed: 0,
    consumeFailures: 0,
  };
  let reliable: ReliableMessaging | undefined;
  const stats = (): MesStats => ({
    messaging: config.messaging,
    ...(reliable
      ? {
          published: reliable.published().confirmed,
          publishedUnconfirmed: reliable.published().unconfirmed,
        }
      : {
          published: counters.published,
          // LEGACY (deliberate): without publisher confirms nothing is ever confirmed.
          publishedUnconfirmed: counters.published,
        }),
    publishFailures: counters.publishFailures,
    consumed: counters.consumed,
    consumeFailures: counters.consumeFailures,
    ...(routed ? { database: routed.context.stats() } : {}),
  });

  let bus: LegacyBus | undefined;
  let server: Server | undefined;
  let pricer: Pricer | undefined;
  try {
    await pool.query('SELECT 1').catch((err: unknown) => {
      throw connectError(config.databaseUrl, err);
    });
    pricer = await createPricer({
      mode: config.pricing,
      work: config.pricingWork,
      runner: config.pricingRunner,
    });
    let events: EventSink = legacySink(pool, () => bus);
    if (config.amqpUrl !== undefined && config.messaging === 'reliable') {
      // The handler publishes through the sink the messaging creates: bound late.
      const late: EventSink = { write: (change, of, tx) => reliable!.sink.write(change, of, tx) };
      reliable = await startReliableMessaging({
        url: config.amqpUrl,
        exchange: config.exchange,
        queue: config.queue,
        pool,
        counters,
        logger,
        migrate: config.migrate,
        onMessage: createMessageHandler({ pool, modelDir: config.modelDir, pricer, events: late }),
      });
      events = reliable.sink;
    } else if (config.amqpUrl !== undefined) {
      bus = await LegacyBus.connect({
        url: config.amqpUrl,
        exchange: config.exchange,
        queue: config.queue,
        counters,
        logger,
        onMessage: createMessageHandler({
          pool,
          modelDir: config.modelDir,
          pricer,
          events,
        }),
      });
    }
    server = createServer(
      createRequestListener({
        pool,
        modelDir: config.modelDir,
        pricer,
        maxUploadBytes: config.maxUploadBytes,
        events,
        stats,
        logger,
        db: routed?.context,
        pagesApi:
          config.pagesApiUrl !== undefined
            ? { baseUrl: config.pagesApiUrl, timeoutMs: config.pagesApiTimeoutMs }
            : undefined,
      }),
    );
    const url = await listen(server, {
      host: config.host,
      port: config.port,
      what: 'reference MES',
    });
    const port = (server.address() as AddressInfo).port;
    logger.info(
      {
        event: 'started',
        url,
        database: redactUrl(config.databaseUrl),
        broker: config.amqpUrl !== undefined ? redactUrl(config.amqpUrl) : null,
        exchange: config.exchange,
        queue: config.queue,
        pricing: config.pricing,
        pagesApi: config.pagesApiUrl ?? null,
      },
      'reference MES started',
    );
    let closing: Promise<void> | undefined;
    const listening = server;
    const openBus = bus;
    const openReliable = reliable;
    const openPricer = pricer;
    return {
      url,
      port,
      stats,
      close: () => {
        closing ??= (async () => {
          await closeServer(listening);
          // The consumer may still be pricing what it was given: the pricer closes after it.
          await openBus?.close();
          await openReliable?.close();
          await openPricer.close();
          await pool.end();
        })();
        return closing;
      },
    };
  } catch (err) {
    if (server?.listening) await closeServer(server);
    await bus?.close();
    await reliable?.close();
    await pricer?.close().catch(() => undefined);
    await pool.end().catch(() => undefined);
    throw err;
  }
}

function normalise(opts: ReferenceMesOptions): Config {
  if (typeof opts !== 'object' || opts === null) {
    throw badOption('options', 'pass an options object with databaseUrl and modelDir');
  }
  if (typeof opts.databaseUrl !== 'string' || opts.databaseUrl === '') {
    throw badOption('databaseUrl', 'set it to a PostgreSQL URL, e.g. postgres://user@host/db');
  }
  if (typeof opts.modelDir !== 'string' || opts.modelDir === '') {
    throw badOption('modelDir', 'set it to the folder holding the uploaded models');
  }
  if (opts.amqpUrl !== undefined && (typeof opts.amqpUrl !== 'string' || opts.amqpUrl === '')) {
    throw badOption('amqpUrl', 'set it to an amqp:// URL or leave it out to run without messaging');
  }
  const port = opts.port ?? DEFAULTS.port;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw badOption('port', 'use an integer from 0 (any free port) to 65535');
  }
  const pricingWork = opts.pricingWork ?? DEFAULTS.pricingWork;
  if (typeof pricingWork !== 'number' || !Number.isFinite(pricingWork) || pricingWork <= 0) {
    throw badOption('pricingWork', 'use a finite number > 0 (1.0 is the legacy default)');
  }
  const pricing = opts.pricing ?? DEFAULTS.pricing;
  if (!isPricingMode(pricing)) {
    throw badOption('pricing', `use one of ${PRICING_MODES.join(', ')} (legacy is the default)`);
  }
  const pricingRunner = opts.pricingRunner ?? {};
  if (typeof pricingRunner !== 'object' || pricingRunner === null) {
    throw badOption('pricingRunner', 'pass an options object or leave it out for the defaults');
  }
  const maxUploadBytes = opts.maxUploadBytes ?? DEFAULTS.maxUploadBytes;
  if (!Number.isSafeInteger(maxUploadBytes) || maxUploadBytes < 1) {
    throw badOption('maxUploadBytes', 'use a positive integer number of bytes');
  }
  const logLevel = opts.logLevel ?? DEFAULTS.logLevel;
  if (!isLogLevel(logLevel)) {
    throw badOption('logLevel', `use one of ${LOG_LEVELS.join(', ')}`);
  }
  const replicaUrls = opts.replicaUrls ?? [];
  if (
    !Array.isArray(replicaUrls) ||
    replicaUrls.some((u) => typeof u !== 'string' || !/^postgres(ql)?:\/\//.test(u))
  ) {
    throw badOption(
      'replicaUrls',
      'use an array of postgres:// URLs, or leave it out for one pool',
    );
  }
  const messaging = opts.messaging ?? DEFAULTS.messaging;
  if (!MESSAGING_MODES.includes(messaging)) {
    throw badOption(
      'messaging',
      `use one of ${MESSAGING_MODES.join(', ')} (legacy is the default)`,
    );
  }
  const pagesApiProblem =
    opts.pagesApiUrl === undefined ? undefined : pagesApiUrlProblem(opts.pagesApiUrl);
  if (pagesApiProblem !== undefined) {
    throw badOption(
      'pagesApiUrl',
      `${pagesApiProblem}; use the http:// base URL of the cache proxy in front of this MES, e.g. http://127.0.0.1:8090, or leave it out to read the list in-process`,
    );
  }
  const pagesApiTimeoutMs = opts.pagesApiTimeoutMs ?? DEFAULTS.pagesApiTimeoutMs;
  if (!Number.isSafeInteger(pagesApiTimeoutMs) || pagesApiTimeoutMs < 1) {
    throw badOption('pagesApiTimeoutMs', 'use a positive integer number of milliseconds');
  }
  for (const name of ['host', 'exchange', 'queue'] as const) {
    const value = opts[name];
    if (value !== undefined && (typeof value !== 'string' || value === '')) {
      throw badOption(name, 'use a non-empty string or leave it out for the default');
    }
  }
  return {
    databaseUrl: opts.databaseUrl,
    amqpUrl: opts.amqpUrl,
    replicaUrls,
    host: opts.host ?? DEFAULTS.host,
    port,
    modelDir: opts.modelDir,
    exchange: opts.exchange ?? DEFAULTS.exchange,
    messaging,
    queue: opts.queue ?? (messaging === 'reliable' ? DEFAULTS.reliableQueue : DEFAULTS.queue),
    pricingWork,
    pricing,
    pricingRunner,
    maxUploadBytes,
    migrate: opts.migrate ?? DEFAULTS.migrate,
    logLevel,
    pagesApiUrl: opts.pagesApiUrl === undefined ? undefined : pagesApiBase(opts.pagesApiUrl),
    pagesApiTimeoutMs,
  };
}

function badOption(name: string, fix: string): InvalidOptionError {
  return new InvalidOptionError({
    component: 'createReferenceMes',
    option: name,
    problem: `is invalid: ${fix}`,
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    // In-flight requests may finish; after the grace period their connections are cut.
    const timer = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
    timer.unref();
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    server.closeIdleConnections();
  });
}
