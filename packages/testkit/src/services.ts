// The servers of the test run (started once by the vitest global setup), and names that do
// not collide: test files run in parallel against the same servers.
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';

export interface ServiceUrls {
  databaseUrl: string;
  replicaUrl: string;
  amqpUrl: string;
  redisUrl: string;
  prometheusUrl: string;
}

/**
 * The URLs the global setup provided; outside vitest (the API test runner), the same variables
 * from the environment. Throws naming the missing one.
 */
export function serviceUrls(): ServiceUrls {
  const urls = provided() ?? process.env;
  const need = (name: string): string => {
    const value = urls[name];
    if (!value) throw new Error(`the vitest global setup (or the environment) provided no ${name}`);
    return value;
  };
  return {
    get databaseUrl() {
      return need('DATABASE_URL');
    },
    get replicaUrl() {
      return need('DATABASE_REPLICA_URL');
    },
    get amqpUrl() {
      return need('AMQP_URL');
    },
    get redisUrl() {
      return need('REDIS_URL');
    },
    get prometheusUrl() {
      return need('PROMETHEUS_URL');
    },
  };
}

/** What the global setup provided; undefined outside a vitest worker, where inject() throws. */
function provided(): Record<string, string | undefined> | undefined {
  try {
    // The key is declared by the root global setup (ProvidedContext), not visible from here.
    return (inject as (key: string) => unknown)('services') as Record<string, string | undefined>;
  } catch {
    return undefined;
  }
}

/** `<prefix>_<time>_<random>`: a database, queue, exchange or key prefix of its own. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
}
