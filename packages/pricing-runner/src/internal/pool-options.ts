// The pool's options (shared by the runner, which takes them too): defaults applied and every
// option checked once, in the factory, so a bad one throws there with the kernel's
// InvalidOptionError naming it, never later inside a worker.
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { optionChecks, type OptionChecks } from '@meskit/kernel';
import { normalizeAnalyzeOptions } from '../analyze.js';
import { MeshError, PriceModelError } from '../errors.js';
import type { PricingPoolOptions } from '../pool.js';
import { DEFAULT_PRICE_MODEL, validatePriceModel } from '../price-model.js';
import { MAX_TIMER_MS } from './checks.js';
import type { WorkerConfig } from './pool-protocol.js';

/**
 * The pool's defaults. `threads` is not a constant: `os.availableParallelism() - 1`, at least
 * 1, leaving a core to the host's event loop.
 */
export const POOL_DEFAULTS = {
  maxQueue: 64,
  timeoutMs: 30_000,
  offload: { export: 'default', version: '1' },
} as const;

function defaultThreads(): number {
  return Math.max(1, availableParallelism() - 1);
}

/** Upper bounds that only catch mistakes (a count typed with a unit, a negative wrapped). */
const MAX_THREADS = 1024;
const MAX_QUEUE = 1_000_000;

export interface ResolvedOffload {
  url: string;
  exportName: string;
  options: Record<string, unknown>;
  version: string;
}

/** What the runner needs to know of the pool's work: the analysis, the model, the offload. */
export interface ResolvedConfig {
  analyze: WorkerConfig['analyze'];
  model: WorkerConfig['model'];
  offload: ResolvedOffload | null;
}

export interface ResolvedPoolOptions extends ResolvedConfig {
  threads: number;
  maxQueue: number;
  timeoutMs: number;
}

/**
 * `createPricingPool`'s options with their defaults, or an InvalidOptionError. `component` is
 * the factory the caller called (`createPricingRunner` checks the pool's options as its own).
 */
export function resolvePoolOptions(
  opts: PricingPoolOptions,
  component: string,
): ResolvedPoolOptions {
  const check = optionChecks(component);
  check.object('options', opts, '{ threads: 2 }');
  const threads =
    opts.threads === undefined
      ? defaultThreads()
      : check.integer('threads', opts.threads, 1, MAX_THREADS);
  const maxQueue = check.integer('maxQueue', opts.maxQueue ?? POOL_DEFAULTS.maxQueue, 0, MAX_QUEUE);
  const timeoutMs = check.integer(
    'timeoutMs',
    opts.timeoutMs ?? POOL_DEFAULTS.timeoutMs,
    1,
    MAX_TIMER_MS,
  );
  return { threads, maxQueue, timeoutMs, ...resolveConfig(opts, check, component) };
}

function resolveConfig(
  opts: PricingPoolOptions,
  check: OptionChecks,
  component: string,
): ResolvedConfig {
  const analyze = normalizeAnalyzeOptions(opts.analyze, component, 'analyze');
  const offload = opts.offload === undefined ? null : resolveOffload(opts.offload, check);
  if (offload && opts.priceModel !== undefined)
    throw check.invalid(
      'priceModel',
      'has no effect with offload (the offloaded function prices); remove one of them',
    );
  const ignored = Object.keys(opts.analyze ?? {}).find((name) => name !== 'maxBytes');
  if (offload && ignored !== undefined)
    throw check.invalid(
      `analyze.${ignored}`,
      'has no effect with offload (only analyze.maxBytes applies); remove it',
    );
  return { analyze, model: resolvePriceModel(opts.priceModel, check), offload };
}

/**
 * The model validated by `validatePriceModel`; its PriceModelError becomes the cause of an
 * InvalidOptionError naming the field (`priceModel.alloys.gold-585.density`), so a factory
 * refuses a bad model the way it refuses every other option.
 */
function resolvePriceModel(model: unknown, check: OptionChecks): WorkerConfig['model'] {
  if (model === undefined) return DEFAULT_PRICE_MODEL;
  try {
    return validatePriceModel(model);
  } catch (error) {
    if (!(error instanceof PriceModelError)) throw error;
    const prefix = `price model: ${error.field}: `;
    const problem = error.message.startsWith(prefix)
      ? error.message.slice(prefix.length)
      : error.message;
    const option = error.field === '(root)' ? 'priceModel' : `priceModel.${error.field}`;
    throw check.invalid(option, `${problem} (see DEFAULT_PRICE_MODEL for a valid model)`, error);
  }
}

function resolveOffload(offload: unknown, check: OptionChecks): ResolvedOffload {
  const o = check.object('offload', offload, '{ module: "./pricing.mjs", export: "price" }');
  const module = o['module'];
  let url: URL;
  if (module instanceof URL) url = module;
  else if (typeof module === 'string' && module.length > 0)
    url = module.startsWith('file:') ? new URL(module) : pathToFileURL(resolve(module));
  else
    throw check.invalid(
      'offload.module',
      `must be a file: URL or the path of an ESM module, got ${String(module)}`,
    );
  if (url.protocol !== 'file:')
    throw check.invalid('offload.module', `must be a file: URL or a path, got ${url.href}`);
  const path = fileURLToPath(url);
  if (!existsSync(path))
    throw check.invalid(
      'offload.module',
      `must name an existing file, and there is no file at ${path}; pass an absolute path or a file: URL (relative paths resolve against the current directory)`,
    );
  const exportName = check.text('offload.export', o['export'] ?? POOL_DEFAULTS.offload.export);
  const version = check.text('offload.version', o['version'] ?? POOL_DEFAULTS.offload.version);
  const options = check.object(
    'offload.options',
    o['options'] ?? {},
    '{ currency: "EUR" } (passed to every call)',
  );
  try {
    JSON.stringify(options);
    structuredClone(options);
  } catch (error) {
    throw check.invalid(
      'offload.options',
      `must be plain JSON data (it is sent to every worker and keyed in the cache): ${error instanceof Error ? error.message : String(error)}`,
      error,
    );
  }
  return { url: url.href, exportName, options, version };
}

/**
 * What the worker would refuse anyway, checked before hashing, queueing or moving bytes:
 * input over `analyze.maxBytes` (`MeshError` `TOO_LARGE`, the message `analyzeMesh` gives)
 * and, when pricing with a model, an alloy it does not have (`PriceModelError`).
 */
export function checkRequest(
  config: ResolvedConfig,
  bytes: Uint8Array,
  alloy: string | undefined,
): Error | undefined {
  if (bytes.length > config.analyze.maxBytes)
    return new MeshError(
      'TOO_LARGE',
      `the model file has ${bytes.length} bytes, over maxBytes (${config.analyze.maxBytes})`,
    );
  if (!config.offload && alloy !== undefined && !Object.hasOwn(config.model.alloys, alloy))
    return new PriceModelError(
      'alloy',
      `"${alloy}" is not in the price model (${Object.keys(config.model.alloys).join(', ')})`,
    );
  return undefined;
}
