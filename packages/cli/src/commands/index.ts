import type { RegisterCommand } from '../program.js';
import { registerCacheCommand } from './cache.js';
import { registerCacheProxyCommand } from './cache-proxy.js';
import { registerDbCommand } from './db.js';
import { registerDoctorCommand } from './doctor.js';
import { registerMqCommand } from './mq.js';
import { registerPriceCommand } from './price.js';
import { registerPricingCommand } from './pricing.js';

/**
 * The commands of `meskit`, in help order. A new command is a module exporting a
 * `RegisterCommand`, added here (sidecars, price, cache, queue, db as their packages land).
 */
export function builtinCommands(): RegisterCommand[] {
  return [
    registerDoctorCommand,
    registerPriceCommand,
    registerPricingCommand,
    registerCacheProxyCommand,
    registerCacheCommand,
    registerMqCommand,
    registerDbCommand,
  ];
}

export {
  registerCacheCommand,
  registerDbCommand,
  registerCacheProxyCommand,
  registerDoctorCommand,
  registerMqCommand,
  registerPriceCommand,
  registerPricingCommand,
};
