// A day at the shop, compressed: the online shop submitting orders over RabbitMQ, the CRM
// approving priced orders, B2B partners pricing items over HTTP, and operators racing for the
// newest approved orders on the dashboard. Used by the demo and the benchmarks to load a MES
// (the legacy one, or the same one behind meskit) in exactly the same way.
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import amqp from 'amqplib';
import type { Channel, ChannelModel } from 'amqplib';
import { MesError } from './errors.js';
import { amqpTls, InvalidOptionError, tlsFailure } from '@meskit/kernel';
import { generateRingStl } from './models.js';

export interface SimulationOptions {
  /** Base URL of the MES HTTP API (or of a proxy in front of it). Required. */
  mesUrl: string;
  /** RabbitMQ URL the shop and the CRM use. Required. */
  amqpUrl: string;
  /** The model store the MES reads; the shop writes its customers' models here. Required. */
  modelDir: string;
  /** Topic exchange shared with the MES. Default: 'mes.events'. */
  exchange?: string;
  /** How long to generate traffic, in ms. Required. */
  durationMs: number;
  /** Operators polling the dashboard concurrently. Default: 5. */
  operators?: number;
  /** Orders the shop submits per second (`order.submitted`). Default: 2. */
  shopOrdersPerSecond?: number;
  /** B2B quotes (model uploads) per second. Default: 0.5. */
  b2bQuotesPerSecond?: number;
  /** Triangles per generated model. Default: 2000 (quick to price; raise it to feel the slow path). */
  modelTriangles?: number;
  /** Pause of each operator between two looks at the dashboard, in ms. Default: 200. */
  operatorThinkMs?: number;
  /** Per-request timeout, in ms. Default: 30000. */
  requestTimeoutMs?: number;
  /** Stops the simulation early. Default: none. */
  signal?: AbortSignal;
}

export interface LatencySummary {
  p50Ms: number;
  p99Ms: number;
  samples: number;
}

export interface SimulationReport {
  /** How long traffic ran (until durationMs or the abort), in-flight work included. */
  durationMs: number;
  /** `order.submitted` messages published by the shop. */
  shopOrdersSubmitted: number;
  /** B2B quotes the MES priced (201). */
  b2bQuotes: number;
  /** `order.price_calculated` events of this run received by the CRM. */
  priceCalculatedReceived: number;
  /** `order.manufacturing_approved` messages the CRM published in answer. */
  approvalsSent: number;
  /** First-page requests of the MANUFACTURING_APPROVED dashboard. */
  firstPageRequests: number;
  /** Takes that returned 200. */
  takesWon: number;
  /** Takes that returned 409: another operator was faster. */
  takesLost: number;
  /** Anything unexpected: network errors, timeouts, 4xx/5xx other than lost races. */
  errors: number;
  /** Latency of the operators' first page (GET /api/orders?status=MANUFACTURING_APPROVED). */
  firstPageLatency: LatencySummary;
}

export const SIMULATION_DEFAULTS = {
  exchange: 'mes.events',
  operators: 5,
  shopOrdersPerSecond: 2,
  b2bQuotesPerSecond: 0.5,
  modelTriangles: 2000,
  operatorThinkMs: 200,
  requestTimeoutMs: 30_000,
} as const;

/** Latency samples kept; beyond this the run is long enough for stable percentiles. */
const MAX_SAMPLES = 200_000;
/** Ring sizes the simulated customers order (inner diameters, mm), for varied prices. */
const RING_SIZES_MM = [15.7, 16.5, 17.3, 18.1, 19.0];

type Config = Required<Omit<SimulationOptions, 'signal'>> & { signal: AbortSignal | undefined };

/** The report's counters, counted while traffic runs. */
type Counters = Omit<SimulationReport, 'durationMs' | 'firstPageLatency'>;

export async function simulateTraffic(opts: SimulationOptions): Promise<SimulationReport> {
  const config = normalise(opts);
  const started = performance.now();
  const counters: Counters = {
    shopOrdersSubmitted: 0,
    b2bQuotes: 0,
    priceCalculatedReceived: 0,
    approvalsSent: 0,
    firstPageRequests: 0,
    takesWon: 0,
    takesLost: 0,
    errors: 0,
  };
  const latencies: number[] = [];
  // Every external id of this run starts with the tag: the CRM answers only its own orders.
  const tag = `sim-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  const models = RING_SIZES_MM.map((innerDiameterMm) =>
    generateRingStl({ triangles: config.modelTriangles, innerDiameterMm }),
  );
  await mkdir(join(config.modelDir, 'sim'), { recursive: true });

  const stopper = new AbortController();
  const stop = (): void => stopper.abort();
  const timer = setTimeout(stop, config.durationMs);
  timer.unref();
  config.signal?.addEventListener('abort', stop, { once: true });
  if (config.signal?.aborted) stop();
  const stopped = stopper.signal;

  const crm = await connectCrm(config, tag, counters);
  try {
    const operatorIds = await fetchOperatorIds(config);
    const http = new HttpClient(config.mesUrl, config.requestTimeoutMs);

    const shop = paced(config.shopOrdersPerSecond, stopped, async (n) => {
      const externalId = `${tag}-shop-${n}`;
      const modelRef = `sim/${externalId}.stl`;
      try {
        await writeFile(join(config.modelDir, modelRef), models[n % models.length]!);
        crm.publish('order.submitted', {
          externalId,
          source: 'b2c',
          modelRef,
          occurredAt: new Date().toISOString(),
        });
        counters.shopOrdersSubmitted++;
      } catch {
        counters.errors++;
      }
    });

    const b2b = paced(config.b2bQuotesPerSecond, stopped, async (n) => {
      const externalId = `${tag}-b2b-${n}`;
      const reply = await http.request(
        'POST',
        `/api/b2b/orders?externalId=${encodeURIComponent(externalId)}&filename=ring-${n}.stl`,
        { body: models[n % models.length]!, contentType: 'model/stl' },
      );
      if (reply?.status === 201) counters.b2bQuotes++;
      else counters.errors++;
    });

    const operators = Array.from({ length: config.operators }, async (_, i) => {
      const operatorId = operatorIds[i % operatorIds.length]!;
      while (!stopped.aborted) {
        const t0 = performance.now();
        const page = await http.request(
          'GET',
          '/api/orders?status=MANUFACTURING_APPROVED&page=1&pageSize=20',
        );
        counters.firstPageRequests++;
        if (page?.status !== 200) {
          counters.errors++;
        } else {
          if (latencies.length < MAX_SAMPLES) latencies.push(performance.now() - t0);
          const newest = firstItemId(page.body);
          if (newest !== undefined && !stopped.aborted) {
            const taken = await http.request('POST', `/api/orders/${newest}/take`, {
              body: Buffer.from(JSON.stringify({ operatorId })),
              contentType: 'application/json',
            });
            if (taken?.status === 200) counters.takesWon++;
            else if (taken?.status === 409) counters.takesLost++;
            else counters.errors++;
          }
        }
        await pause(config.operatorThinkMs, stopped);
      }
    });

    await Promise.all([shop, b2b, ...operators]);
  } finally {
    clearTimeout(timer);
    config.signal?.removeEventListener('abort', stop);
    await crm.close();
  }

  return {
    durationMs: performance.now() - started,
    ...counters,
    errors: counters.errors + crm.errors(),
    firstPageLatency: summarise(latencies),
  };
}

/** Nearest-rank percentiles; zeros when there are no samples. */
export function summarise(samples: readonly number[]): LatencySummary {
  if (samples.length === 0) return { p50Ms: 0, p99Ms: 0, samples: 0 };
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = (p: number): number =>
    sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
  return { p50Ms: rank(0.5), p99Ms: rank(0.99), samples: sorted.length };
}

/**
 * Calls `task(n)` at `perSecond` on average, one at a time (a slow MES slows the caller, as it
 * does a real client), until `stopped`. Bounded by the stop signal.
 */
async function paced(
  perSecond: number,
  stopped: AbortSignal,
  task: (n: number) => Promise<void>,
): Promise<void> {
  if (perSecond <= 0) return;
  const interval = 1000 / perSecond;
  let next = performance.now();
  for (let n = 0; !stopped.aborted; n++) {
    await pause(next - performance.now(), stopped);
    if (stopped.aborted) return;
    await task(n);
    // After a stall, catch up by at most one call instead of a burst of all the missed ones.
    next = Math.max(next + interval, performance.now() - interval);
  }
}

async function pause(ms: number, stopped: AbortSignal): Promise<void> {
  if (ms <= 0 || stopped.aborted) return;
  await sleep(ms, undefined, { signal: stopped }).catch(() => undefined);
}

function firstItemId(body: unknown): number | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const items = (body as { items?: unknown }).items;
  if (!Array.isArray(items) || items.length === 0) return undefined;
  const id = (items[0] as { id?: unknown }).id;
  return typeof id === 'number' ? id : undefined;
}

class HttpClient {
  readonly #base: string;
  readonly #timeoutMs: number;

  constructor(base: string, timeoutMs: number) {
    this.#base = base.replace(/\/+$/, '');
    this.#timeoutMs = timeoutMs;
  }

  /** The status and parsed JSON body, or undefined on a network error or timeout. */
  async request(
    method: 'GET' | 'POST',
    path: string,
    opts: { body?: Buffer; contentType?: string } = {},
  ): Promise<{ status: number; body: unknown } | undefined> {
    try {
      const res = await fetch(`${this.#base}${path}`, {
        method,
        ...(opts.body ? { body: opts.body } : {}),
        headers: opts.contentType ? { 'content-type': opts.contentType } : {},
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      const text = await res.text();
      let body: unknown;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = undefined;
      }
      return { status: res.status, body };
    } catch {
      return undefined;
    }
  }
}

async function fetchOperatorIds(config: Config): Promise<number[]> {
  const http = new HttpClient(config.mesUrl, config.requestTimeoutMs);
  const reply = await http.request('GET', '/api/operators');
  const items = (reply?.body as { items?: unknown } | undefined)?.items;
  const ids = Array.isArray(items)
    ? items.flatMap((item: unknown) => {
        const id = (item as { id?: unknown } | null)?.id;
        return typeof id === 'number' ? [id] : [];
      })
    : [];
  if (reply?.status !== 200 || ids.length === 0) {
    throw new MesError(
      'START_FAILED',
      `simulateTraffic: GET ${config.mesUrl}/api/operators did not list operators (status ${reply?.status ?? 'no answer'})`,
    );
  }
  return ids;
}

interface Crm {
  /** Throws when the connection is gone. */
  publish(routingKey: string, body: Record<string, unknown>): void;
  errors(): number;
  close(): Promise<void>;
}

/**
 * The shop's and CRM's RabbitMQ side: publishes shop orders, and answers every
 * `order.price_calculated` of this run with `order.manufacturing_approved`.
 */
async function connectCrm(config: Config, tag: string, counters: Counters): Promise<Crm> {
  let connection: ChannelModel;
  try {
    const tls = amqpTls(config.amqpUrl);
    connection = await amqp.connect(tls.url, { ...tls.options, timeout: 10_000 });
  } catch (err) {
    const reason = tlsFailure(err, config.amqpUrl) ?? err;
    throw new MesError(
      'BROKER_UNREACHABLE',
      `simulateTraffic: cannot connect to RabbitMQ: ${reason instanceof Error ? reason.message : String(reason)}`,
      { cause: err },
    );
  }
  let failures = 0;
  let channel: Channel | undefined;
  connection.on('error', () => failures++);
  connection.on('close', () => {
    channel = undefined;
  });
  const publish = (routingKey: string, body: Record<string, unknown>): void => {
    if (!channel) throw new Error('the CRM lost its RabbitMQ connection');
    channel.publish(config.exchange, routingKey, Buffer.from(JSON.stringify(body)), {
      contentType: 'application/json',
      messageId: randomBytes(16).toString('hex'),
      persistent: true,
    });
  };
  try {
    channel = await connection.createChannel();
    channel.on('error', () => failures++);
    await channel.assertExchange(config.exchange, 'topic', { durable: true });
    const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true });
    await channel.bindQueue(queue, config.exchange, 'order.price_calculated');
    await channel.consume(
      queue,
      (msg) => {
        if (!msg) return;
        let event: { orderId?: unknown; externalId?: unknown };
        try {
          event = JSON.parse(msg.content.toString('utf8')) as typeof event;
        } catch {
          return; // Not ours to judge: other publishers share the exchange.
        }
        if (typeof event.externalId !== 'string' || !event.externalId.startsWith(`${tag}-`)) return;
        counters.priceCalculatedReceived++;
        try {
          publish('order.manufacturing_approved', {
            orderId: event.orderId,
            externalId: event.externalId,
            occurredAt: new Date().toISOString(),
          });
          counters.approvalsSent++;
        } catch {
          failures++;
        }
      },
      { noAck: true },
    );
  } catch (err) {
    await connection.close().catch(() => undefined);
    throw new MesError(
      'START_FAILED',
      `simulateTraffic: cannot set up the CRM queue on "${config.exchange}": ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
  return {
    publish,
    errors: () => failures,
    close: async () => {
      await connection.close().catch(() => undefined);
    },
  };
}

function normalise(opts: SimulationOptions): Config {
  const bad = (name: string, fix: string): InvalidOptionError =>
    new InvalidOptionError({
      component: 'simulateTraffic',
      option: name,
      problem: `is invalid: ${fix}`,
    });
  for (const name of ['mesUrl', 'amqpUrl', 'modelDir'] as const) {
    if (typeof opts[name] !== 'string' || opts[name] === '') throw bad(name, 'it is required');
  }
  if (!Number.isFinite(opts.durationMs) || opts.durationMs <= 0) {
    throw bad('durationMs', 'use a positive number of milliseconds');
  }
  const d = SIMULATION_DEFAULTS;
  const config: Config = {
    mesUrl: opts.mesUrl,
    amqpUrl: opts.amqpUrl,
    modelDir: opts.modelDir,
    exchange: opts.exchange ?? d.exchange,
    durationMs: opts.durationMs,
    operators: opts.operators ?? d.operators,
    shopOrdersPerSecond: opts.shopOrdersPerSecond ?? d.shopOrdersPerSecond,
    b2bQuotesPerSecond: opts.b2bQuotesPerSecond ?? d.b2bQuotesPerSecond,
    modelTriangles: opts.modelTriangles ?? d.modelTriangles,
    operatorThinkMs: opts.operatorThinkMs ?? d.operatorThinkMs,
    requestTimeoutMs: opts.requestTimeoutMs ?? d.requestTimeoutMs,
    signal: opts.signal,
  };
  if (!Number.isInteger(config.operators) || config.operators < 0 || config.operators > 1000) {
    throw bad('operators', 'use an integer from 0 to 1000');
  }
  for (const name of ['shopOrdersPerSecond', 'b2bQuotesPerSecond'] as const) {
    if (!Number.isFinite(config[name]) || config[name] < 0 || config[name] > 10_000) {
      throw bad(name, 'use a number from 0 (off) to 10000');
    }
  }
  if (!Number.isInteger(config.modelTriangles) || config.modelTriangles < 18) {
    throw bad('modelTriangles', 'use an integer >= 18');
  }
  if (!Number.isFinite(config.operatorThinkMs) || config.operatorThinkMs < 0) {
    throw bad('operatorThinkMs', 'use a number of milliseconds >= 0');
  }
  if (!Number.isFinite(config.requestTimeoutMs) || config.requestTimeoutMs <= 0) {
    throw bad('requestTimeoutMs', 'use a positive number of milliseconds');
  }
  return config;
}
