// `node dist/seed-cli.js --orders N`: loads N realistic orders into DATABASE_URL.
import { parseArgs } from 'node:util';
import { ConfigError, requireDatabaseUrl } from './internal/env.js';
import { seedOrders } from './seed.js';

const USAGE =
  'usage: DATABASE_URL=postgres://... node dist/seed-cli.js --orders N [--batch-size N]';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      orders: { type: 'string' },
      'batch-size': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const orders = integerArg('--orders', values.orders);
  const batchSize =
    values['batch-size'] === undefined
      ? undefined
      : integerArg('--batch-size', values['batch-size']);
  const databaseUrl = requireDatabaseUrl(process.env);

  process.stdout.write(`seeding ${orders} orders...\n`);
  const result = await seedOrders({
    databaseUrl,
    orders,
    ...(batchSize !== undefined ? { batchSize } : {}),
    onProgress: (inserted) => {
      const percent = Math.round((inserted / orders) * 100);
      process.stdout.write(`  ${inserted}/${orders} (${percent}%)\n`);
    },
  });
  process.stdout.write(`seeded ${result.inserted} orders in ${(result.ms / 1000).toFixed(1)} s\n`);
}

function integerArg(flag: string, text: string | undefined): number {
  if (text === undefined) throw new ConfigError(`${flag} is required; ${USAGE}`);
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new ConfigError(`${flag} must be a non-negative integer, got "${text}"`);
  }
  return Number(text);
}

main().catch((err: unknown) => {
  const text = (err instanceof Error ? err.message : String(err)).replace(/\s*\n\s*/g, ' ');
  process.stderr.write(`seed-cli: ${text}\n`);
  process.exit(1);
});
