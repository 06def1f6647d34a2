import { builtinChecks } from './checks/index.js';
import { CheckRegistry } from './registry.js';
import type { DoctorCheck } from './types.js';

let shared: CheckRegistry | undefined;

/**
 * The registry `meskit doctor` uses unless `runCli` is given another: the built-in checks,
 * then whatever was added with `registerCheck`. Created on first use.
 */
export function defaultCheckRegistry(): CheckRegistry {
  shared ??= new CheckRegistry(builtinChecks());
  return shared;
}

/**
 * Adds a check to the default registry; it runs after the built-in ones.
 * @throws CliError `DUPLICATE_CHECK` / `INVALID_CHECK` (see CheckRegistry.register).
 */
export function registerCheck(check: DoctorCheck): void {
  defaultCheckRegistry().register(check);
}
