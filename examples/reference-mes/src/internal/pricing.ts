// The MES's pricing behind one switch: the legacy function on the event loop (the default, as
// the real MES does it), the same function offloaded to @meskit/pricing-runner's workers, or
// pricing-runner's own analysis and price model.
//
// pricing-runner is imported only when a mode needs it, so the default MES loads no meskit
// code at all (no prom-client, no worker pool): legacy stays exactly legacy.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type * as PricingRunnerModule from '@meskit/pricing-runner';
import type {
  OffloadQuote,
  PricingQuote,
  PricingRunner,
  PricingRunnerOptions,
} from '@meskit/pricing-runner';
import { MesError } from '../errors.js';
import { InvalidOptionError } from '@meskit/kernel';
import { LEGACY_PRICING, legacyPrice, type LegacyQuote } from '../pricing/legacy.js';

/** The pricing engines `createReferenceMes({ pricing })` and `MES_PRICING` choose from. */
export const PRICING_MODES = ['legacy', 'offload', 'runner'] as const;
export type PricingMode = (typeof PRICING_MODES)[number];

export function isPricingMode(value: unknown): value is PricingMode {
  return typeof value === 'string' && (PRICING_MODES as readonly string[]).includes(value);
}

/** Options of the pricing runner the `offload` and `runner` modes create. */
export interface MesPricingRunnerOptions extends Pick<
  PricingRunnerOptions,
  'threads' | 'maxQueue' | 'timeoutMs' | 'cache' | 'registry' | 'priceModel'
> {
  /**
   * `runner` mode: the alloy quotes are priced in (it must be in the price model).
   * Default: 'gold-585', the 585 gold the legacy formula assumes.
   */
  alloy?: string;
}

/** The alloy of the `runner` mode when none is configured: the legacy formula's 585 gold. */
export const RUNNER_DEFAULT_ALLOY = 'gold-585';

/** What an engine says about one model. */
export interface PricingOutcome {
  triangles: number;
  /** In `currency`, rounded to cents. */
  price: number;
  currency: string;
  engine: PricingMode;
  /** Served from the runner's result cache (always false for `legacy`). */
  cached: boolean;
  /** Wall-clock time of the pricing as the MES saw it: queue wait, cache lookup, computation. */
  durationMs: number;
  /** `runner` mode: the alloy and the price model version the quote used. */
  alloy?: string;
  modelVersion?: string;
}

export type PricingFailureCode =
  'INVALID_MODEL' | 'MODEL_NOT_PRICEABLE' | 'PRICING_UNAVAILABLE' | 'PRICING_TIMEOUT';

/**
 * Why an `offload` or `runner` engine priced nothing, in the MES's terms: `INVALID_MODEL`
 * (unreadable model; `reason` is the runner's `MeshError` code), `MODEL_NOT_PRICEABLE` (read,
 * but its volume cannot be trusted), `PRICING_UNAVAILABLE` (queue full, shutting down),
 * `PRICING_TIMEOUT` (ran past the runner's `timeoutMs`).
 */
export class PricingFailure extends Error {
  readonly code: PricingFailureCode;
  readonly reason: string | undefined;

  constructor(
    code: PricingFailureCode,
    message: string,
    options?: { cause?: unknown; reason?: string },
  ) {
    super(message, options);
    this.name = 'PricingFailure';
    this.code = code;
    this.reason = options?.reason;
  }
}

export interface Pricer {
  readonly mode: PricingMode;
  /**
   * Prices a model. `legacy` runs synchronously on the calling thread, as before, and
   * rejects with `MesError` `INVALID_MODEL`; the other modes reject with `PricingFailure`.
   * The bytes may be handed to a worker (detached): do not use `model` afterwards.
   */
  price(model: Buffer): Promise<PricingOutcome>;
  /** Closes the runner (queued quotes are refused, running ones finish). Safe twice. */
  close(): Promise<void>;
}

export interface PricerConfig {
  mode: PricingMode;
  /** The legacy work factor (`legacy` and `offload`). */
  work: number;
  runner: MesPricingRunnerOptions;
}

/**
 * The compiled legacy module the workers import. `../../dist/...` resolves to the same file
 * from `dist/internal/` (the built MES) and from `src/internal/` (the tests, run on the
 * sources): worker threads cannot load the TypeScript sources.
 */
const LEGACY_MODULE = new URL('../../dist/pricing/legacy.js', import.meta.url);

export async function createPricer(config: PricerConfig): Promise<Pricer> {
  if (config.mode === 'legacy') return legacyPricer(config.work);
  return config.mode === 'offload' ? offloadPricer(config) : runnerPricer(config);
}

function legacyPricer(work: number): Pricer {
  return {
    mode: 'legacy',
    // LEGACY (deliberate): legacyPrice runs inside this call, blocking the event loop.
    price: async (model) => {
      const quote = legacyPrice(model, { work });
      return {
        triangles: quote.triangles,
        price: quote.price,
        currency: quote.currency,
        engine: 'legacy',
        cached: false,
        durationMs: roundMs(quote.ms),
      };
    },
    close: async () => undefined,
  };
}

type RunnerModule = typeof PricingRunnerModule;

async function offloadPricer(config: PricerConfig): Promise<Pricer> {
  const { priceModel, alloy } = config.runner;
  if (priceModel !== undefined || alloy !== undefined) {
    throw badRunnerOption(
      `${priceModel !== undefined ? 'priceModel' : 'alloy'} has no effect with pricing 'offload' (the legacy formula prices); remove it or use pricing 'runner'`,
    );
  }
  if (!existsSync(LEGACY_MODULE)) {
    throw new MesError(
      'START_FAILED',
      `pricing 'offload' needs the compiled legacy pricing at ${fileURLToPath(LEGACY_MODULE)}; build it with \`npx tsc -b examples/reference-mes\``,
    );
  }
  const lib = await import('@meskit/pricing-runner');
  const runner = construct(() =>
    lib.createPricingRunner<LegacyQuote>({
      ...runnerOptions(config.runner),
      offload: {
        module: LEGACY_MODULE,
        export: 'legacyPrice',
        options: { work: config.work },
        version: legacyVersion(),
      },
    }),
  );
  return {
    mode: 'offload',
    price: async (model) => {
      const started = performance.now();
      let quote: OffloadQuote<LegacyQuote>;
      try {
        quote = await runner.quote(model);
      } catch (err) {
        throw translate(lib, err);
      }
      return {
        triangles: quote.result.triangles,
        price: quote.result.price,
        currency: quote.result.currency,
        engine: 'offload',
        cached: quote.cached,
        durationMs: roundMs(performance.now() - started),
      };
    },
    close: () => runner.close(),
  };
}

async function runnerPricer(config: PricerConfig): Promise<Pricer> {
  const lib = await import('@meskit/pricing-runner');
  const runner = construct(() => lib.createPricingRunner(runnerOptions(config.runner)));
  const alloy = config.runner.alloy ?? RUNNER_DEFAULT_ALLOY;
  const model = config.runner.priceModel ?? lib.DEFAULT_PRICE_MODEL;
  if (typeof alloy !== 'string' || !Object.hasOwn(model.alloys, alloy)) {
    await runner.close();
    throw badRunnerOption(
      `alloy ${JSON.stringify(alloy)} is not in the price model; use one of ${Object.keys(model.alloys).join(', ')}`,
    );
  }
  return {
    mode: 'runner',
    price: async (bytes) => {
      const started = performance.now();
      let quote: PricingQuote;
      try {
        quote = await runner.quote(bytes, { alloy });
      } catch (err) {
        throw translate(lib, err);
      }
      const { analysis, price } = quote;
      if (price === null) {
        // The runner does not price a volume it cannot trust: an open or inside-out mesh
        // would get a nonsense price (the legacy formula prices it anyway).
        throw new PricingFailure(
          'MODEL_NOT_PRICEABLE',
          `the model's volume cannot be trusted (${analysis.confidence.reasons.join('; ')}); send a closed, consistently oriented mesh`,
          { reason: analysis.confidence.reasons[0]?.split(/[\s:]/, 1)[0] },
        );
      }
      return {
        triangles: analysis.triangles,
        price: price.total,
        currency: price.currency,
        engine: 'runner',
        cached: quote.cached,
        durationMs: roundMs(performance.now() - started),
        alloy: price.alloy,
        modelVersion: price.modelVersion,
      };
    },
    close: () => runner.close(),
  };
}

/** Only the options the MES lets through: no `offload` or `analyze` from outside. */
function runnerOptions(
  opts: MesPricingRunnerOptions,
): PricingRunnerOptions & { offload?: undefined } {
  const picked: PricingRunnerOptions & { offload?: undefined } = {};
  if (opts.threads !== undefined) picked.threads = opts.threads;
  if (opts.maxQueue !== undefined) picked.maxQueue = opts.maxQueue;
  if (opts.timeoutMs !== undefined) picked.timeoutMs = opts.timeoutMs;
  if (opts.cache !== undefined) picked.cache = opts.cache;
  if (opts.registry !== undefined) picked.registry = opts.registry;
  if (opts.priceModel !== undefined) picked.priceModel = opts.priceModel;
  return picked;
}

/** The runner throws InvalidOptionError for a bad option: name ours (`pricingRunner`) instead. */
function construct<R>(create: () => PricingRunner<R>): PricingRunner<R> {
  try {
    return create();
  } catch (err) {
    throw badRunnerOption(err instanceof Error ? err.message : String(err), err);
  }
}

function badRunnerOption(fix: string, cause?: unknown): InvalidOptionError {
  return new InvalidOptionError({
    component: 'createReferenceMes',
    option: 'pricingRunner',
    problem: `is invalid: ${fix}`,
    cause,
  });
}

/** The runner's errors in the MES's terms; anything else (a bug) is passed on as it is. */
function translate(lib: RunnerModule, err: unknown): unknown {
  if (err instanceof lib.MeshError) {
    return new PricingFailure('INVALID_MODEL', err.message, { cause: err, reason: err.code });
  }
  if (err instanceof lib.PricingPoolError) {
    switch (err.code) {
      case 'OFFLOAD_FAILED': {
        // legacyPrice's own MesError INVALID_MODEL, carried through the worker as the cause.
        const cause = err.cause as { code?: unknown; message?: unknown } | undefined;
        if (cause?.code === 'INVALID_MODEL' && typeof cause.message === 'string') {
          return new PricingFailure('INVALID_MODEL', cause.message, { cause: err });
        }
        return err;
      }
      case 'QUEUE_FULL':
        return new PricingFailure(
          'PRICING_UNAVAILABLE',
          'every pricing worker is busy and the queue is full; retry shortly',
          { cause: err, reason: err.code },
        );
      case 'CLOSED':
        return new PricingFailure('PRICING_UNAVAILABLE', 'the MES is shutting down; retry', {
          cause: err,
          reason: err.code,
        });
      case 'TIMEOUT':
        return new PricingFailure('PRICING_TIMEOUT', err.message, {
          cause: err,
          reason: err.code,
        });
      default:
        return err;
    }
  }
  return err;
}

/**
 * The offload cache key's version: the legacy formula's figures, so results priced under
 * other figures are never served. Bump the prefix when legacy.ts's algorithm changes.
 */
function legacyVersion(): string {
  const digest = createHash('sha256').update(JSON.stringify(LEGACY_PRICING)).digest('hex');
  return `reference-mes-legacy/1+${digest.slice(0, 12)}`;
}

function roundMs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
