#!/usr/bin/env node
/**
 * npm run -s bench -- NAME [--json] [--option value ...]
 * Runs one benchmark: meskit beside its baseline in the same run. Progress goes to stderr,
 * the table to stdout, and with --json one JSON line is printed last.
 */
import { cache } from './benches/cache.js';
import { db } from './benches/db.js';
import { legacyPage } from './benches/legacy-page.js';
import { mq } from './benches/mq.js';
import { otel } from './benches/otel.js';
import { pricing } from './benches/pricing.js';
import { soak } from './benches/soak.js';
import { formatTable, resolveBenchOptions, type Benchmark } from './lib/bench.js';

const BENCHMARKS: readonly Benchmark[] = [legacyPage, otel, pricing, cache, mq, db, soak];

function parseOptions(args: readonly string[]): Record<string, string | boolean> {
  const options: Record<string, string | boolean> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('--')) throw new Error(`unexpected argument "${arg}"`);
    const next = args[i + 1];
    if (next !== undefined && !next.startsWith('--')) {
      options[arg.slice(2)] = next;
      i++;
    } else {
      options[arg.slice(2)] = true;
    }
  }
  return options;
}

function usage(): string {
  return [
    'usage: npm run -s bench -- NAME [--json] [options]',
    '',
    'benchmarks:',
    ...BENCHMARKS.flatMap((b) => [
      `  ${b.name.padEnd(16)} ${b.description}`,
      `  ${''.padEnd(16)} options: ${Object.entries(b.defaults)
        .map(([key, value]) => `--${key} ${value}`)
        .join(' ')}`,
    ]),
  ].join('\n');
}

async function main(): Promise<void> {
  const [name, ...rest] = process.argv.slice(2);
  if (name === '--help' || name === '-h') {
    process.stdout.write(`${usage()}\n`);
    return;
  }
  const bench = BENCHMARKS.find((candidate) => candidate.name === name);
  if (!bench) {
    process.stderr.write(`${name ? `unknown benchmark "${name}"\n` : ''}${usage()}\n`);
    process.exit(2);
  }
  const { json, ...given } = parseOptions(rest);
  const result = await bench.run({
    options: resolveBenchOptions(bench, given),
    log: (line) => process.stderr.write(`[${bench.name}] ${line}\n`),
  });
  process.stdout.write(`${formatTable(result.table)}\n`);
  if (json) process.stdout.write(`${JSON.stringify(result.json)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
