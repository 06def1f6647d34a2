// createPricingServer's options: defaults applied and every option checked synchronously,
// before anything listens, with the kernel's InvalidOptionError naming the one that is wrong.
import { getRegistry, optionChecks } from '@meskit/kernel';
import type { Registry } from 'prom-client';
import type { PricingQuote, PricingRunner } from '../runner.js';
import type { PricingServerOptions } from '../server.js';
import { MAX_TIMER_MS } from './checks.js';

export const SERVER_DEFAULTS = {
  host: '127.0.0.1',
  port: 8790,
  maxBodyBytes: 128 * 1024 * 1024,
  syncWaitMs: 10_000,
  maxJobs: 1000,
  jobTtlMs: 600_000,
} as const;

export interface ResolvedServerOptions {
  runner: PricingRunner<PricingQuote>;
  host: string;
  port: number;
  maxBodyBytes: number;
  syncWaitMs: number;
  maxJobs: number;
  jobTtlMs: number;
  registry: Registry;
}

const check = optionChecks('createPricingServer');

export function resolveServerOptions(opts: PricingServerOptions): ResolvedServerOptions {
  check.object('options', opts, '{ runner: createPricingRunner() }');
  const { runner } = opts;
  if (typeof runner?.quote !== 'function' || typeof runner.stats !== 'function')
    throw check.invalid(
      'runner',
      'must be a pricing runner: pass { runner: createPricingRunner() } (the server does not close it)',
    );
  const integer = (name: Exclude<keyof typeof SERVER_DEFAULTS, 'host'>, min: number, max: number) =>
    check.integer(name, opts[name] ?? SERVER_DEFAULTS[name], min, max);
  const registry = opts.registry ?? getRegistry();
  if (typeof (registry as Partial<Registry> | null)?.metrics !== 'function')
    throw check.invalid(
      'registry',
      'must be a prom-client Registry (leave it out for the shared one)',
    );
  return {
    runner,
    host: check.text('host', opts.host ?? SERVER_DEFAULTS.host),
    port: integer('port', 0, 65_535),
    maxBodyBytes: integer('maxBodyBytes', 1, Number.MAX_SAFE_INTEGER),
    syncWaitMs: integer('syncWaitMs', 0, MAX_TIMER_MS),
    maxJobs: integer('maxJobs', 1, Number.MAX_SAFE_INTEGER),
    jobTtlMs: integer('jobTtlMs', 1, Number.MAX_SAFE_INTEGER),
    registry,
  };
}
