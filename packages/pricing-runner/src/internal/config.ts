// Validation of the options the pool and the runner share, done once at construction so a
// bad option throws there (naming the option), never later inside a worker.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { normalizeAnalyzeOptions, type AnalyzeOptions } from '../analyze.js';
import { MeshError, PriceModelError } from '../errors.js';
import { DEFAULT_PRICE_MODEL, validatePriceModel } from '../price-model.js';
import type { OffloadOptions } from '../pool.js';
import type { WorkerConfig } from './pool-protocol.js';

export interface ResolvedOffload {
  url: string;
  exportName: string;
  options: Record<string, unknown>;
  version: string;
}

export interface ResolvedConfig {
  analyze: WorkerConfig['analyze'];
  model: WorkerConfig['model'];
  offload: ResolvedOffload | null;
}

export const OFFLOAD_DEFAULTS = { export: 'default', version: '1' } as const;

interface ConfigInput {
  analyze?: AnalyzeOptions | undefined;
  priceModel?: unknown;
  offload?: OffloadOptions | undefined;
}

export function resolveConfig(opts: ConfigInput, who: string): ResolvedConfig {
  const offload = opts.offload === undefined ? null : resolveOffload(opts.offload, who);
  if (offload && opts.priceModel !== undefined)
    throw new TypeError(
      `${who}: priceModel has no effect with offload (the offloaded function prices); remove one of them`,
    );
  if (offload && opts.analyze) {
    const ignored = Object.keys(opts.analyze).filter((name) => name !== 'maxBytes');
    if (ignored.length > 0)
      throw new TypeError(
        `${who}: analyze.${ignored[0]} has no effect with offload (only analyze.maxBytes applies); remove it`,
      );
  }
  const analyze = normalizeAnalyzeOptions(opts.analyze, `${who}: option analyze.`);
  const model =
    opts.priceModel === undefined ? DEFAULT_PRICE_MODEL : validatePriceModel(opts.priceModel);
  return { analyze, model, offload };
}

function resolveOffload(offload: OffloadOptions, who: string): ResolvedOffload {
  if (typeof offload !== 'object' || offload === null)
    throw new TypeError(`${who}: offload must be an object like { module, export }`);
  const { module } = offload;
  let url: URL;
  if (module instanceof URL) url = module;
  else if (typeof module === 'string' && module.length > 0)
    url = module.startsWith('file:') ? new URL(module) : pathToFileURL(resolve(module));
  else
    throw new TypeError(
      `${who}: offload.module must be a file: URL or a path of an ESM module, got ${String(module)}`,
    );
  if (url.protocol !== 'file:')
    throw new TypeError(`${who}: offload.module must be a file: URL or a path, got ${url.href}`);
  const path = fileURLToPath(url);
  if (!existsSync(path))
    throw new TypeError(
      `${who}: offload.module: no file at ${path}; pass an absolute path or a file: URL (relative paths resolve against the current directory)`,
    );
  const exportName = offload.export ?? OFFLOAD_DEFAULTS.export;
  if (typeof exportName !== 'string' || exportName === '')
    throw new TypeError(`${who}: offload.export must be the name of an exported function`);
  const version = offload.version ?? OFFLOAD_DEFAULTS.version;
  if (typeof version !== 'string' || version === '')
    throw new TypeError(`${who}: offload.version must be a non-empty string`);
  const options = offload.options ?? {};
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw new TypeError(`${who}: offload.options must be a plain object (passed to every call)`);
  try {
    JSON.stringify(options);
    structuredClone(options);
  } catch (error) {
    throw new TypeError(
      `${who}: offload.options must be plain JSON data (it is sent to every worker and keyed in the cache): ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
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
