#!/usr/bin/env node
/**
 * npm run -s test:api [-- --environment FILE] [--collection NAME]... [--var KEY=VALUE]...
 *                       [--reports DIR]
 *
 * Runs every Postman collection in api/ with newman (its Node API): the cli reporter on stdout,
 * a JUnit report per collection in reports/newman/<collection>.xml. Without --environment it
 * starts a local stack first (see stack.ts) and runs against it with the base URLs of
 * api/environments/local.postman_environment.json replaced by the stack's. With
 * --environment it starts nothing and runs against the stack that file describes (staging).
 * The last line is `api: N passed, M failed` (assertions; M also counts request and script
 * errors); the exit code is 1 when anything failed, 2 for bad arguments.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  API_DIR,
  ENVIRONMENT_SUFFIX,
  loadCollections,
  loadEnvironment,
  type PostmanEnvironment,
} from './collections.js';
import { runCollection, type CollectionResult } from './run.js';
import { startLocalStack, type LocalStack } from './stack.js';

const USAGE =
  'usage: npm run -s test:api -- [--environment FILE] [--collection NAME]... [--var KEY=VALUE]... [--reports DIR]\n';
const LOCAL_ENVIRONMENT = join(API_DIR, 'environments', `local${ENVIRONMENT_SUFFIX}`);
const DEFAULT_REPORTS = resolve(API_DIR, '..', 'reports', 'newman');

class UsageError extends Error {}

interface Options {
  environment: string | undefined;
  collections: string[];
  vars: Map<string, string>;
  reports: string;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      environment: { type: 'string' },
      collection: { type: 'string', multiple: true, default: [] },
      var: { type: 'string', multiple: true, default: [] },
      reports: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const vars = new Map<string, string>();
  for (const pair of values.var) {
    const at = pair.indexOf('=');
    if (at < 1) throw new UsageError(`--var ${pair}: expected KEY=VALUE`);
    vars.set(pair.slice(0, at), pair.slice(at + 1));
  }
  if (values.environment !== undefined && !existsSync(values.environment)) {
    throw new UsageError(`--environment ${values.environment}: no such file`);
  }
  return {
    environment: values.environment,
    collections: values.collection,
    vars,
    reports: values.reports !== undefined ? resolve(values.reports) : DEFAULT_REPORTS,
  };
}

/** `MESKIT_API_ADMIN_TOKEN` for `adminToken`: how a secret reaches the run without a file. */
function envName(key: string): string {
  return `MESKIT_API_${key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()}`;
}

/** The environment with `overrides` set (added when missing), then checked for placeholders. */
function resolveEnvironment(
  base: PostmanEnvironment,
  overrides: ReadonlyMap<string, string>,
  origin: string,
): PostmanEnvironment {
  const values = base.values.map((entry) => ({ ...entry }));
  for (const [key, value] of overrides) {
    const entry = values.find((v) => v.key === key);
    if (entry) Object.assign(entry, { value, enabled: true });
    else values.push({ key, value, type: 'default', enabled: true });
  }
  for (const entry of values) {
    if (entry.enabled === false) continue;
    const fromEnv = process.env[envName(entry.key)];
    if (fromEnv !== undefined && !overrides.has(entry.key)) entry.value = fromEnv;
    if (/^https?:\/\/[^/]*\.invalid(:\d+)?(\/|$)/.test(entry.value)) {
      throw new UsageError(
        `${origin}: ${entry.key} is still the placeholder ${entry.value}; set it in the file, with --var ${entry.key}=URL or ${envName(entry.key)}`,
      );
    }
    if (entry.type === 'secret' && entry.value === '') {
      throw new UsageError(
        `${origin}: ${entry.key} is empty; pass it as ${envName(entry.key)} (or --var ${entry.key}=...), not in the file`,
      );
    }
  }
  return { ...base, values };
}

async function main(argv: string[]): Promise<number> {
  const opts = parseOptions(argv);
  const all = loadCollections();
  const unknown = opts.collections.filter((name) => !all.some((c) => c.name === name));
  if (unknown.length > 0) {
    throw new UsageError(
      `no collection ${unknown.join(', ')} in api/; there are ${all.map((c) => c.name).join(', ')}`,
    );
  }
  const chosen =
    opts.collections.length > 0 ? all.filter((c) => opts.collections.includes(c.name)) : all;
  const log = (line: string): void => void process.stderr.write(`[api-tests] ${line}\n`);

  let stack: LocalStack | undefined;
  let environment: PostmanEnvironment;
  if (opts.environment !== undefined) {
    environment = resolveEnvironment(
      loadEnvironment(opts.environment),
      opts.vars,
      opts.environment,
    );
  } else {
    const started = Date.now();
    stack = await startLocalStack({ servicesDir: process.env['MESKIT_SERVICES_DIR'], log });
    log(`local stack ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const overrides = new Map([...Object.entries(stack.values), ...opts.vars]);
    environment = resolveEnvironment(loadEnvironment(LOCAL_ENVIRONMENT), overrides, 'local stack');
  }
  const stopOnSignal = (signal: NodeJS.Signals): void => {
    log(`${signal}: stopping`);
    void (stack?.close() ?? Promise.resolve()).finally(() =>
      process.exit(signal === 'SIGINT' ? 130 : 143),
    );
  };
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);

  const results: CollectionResult[] = [];
  try {
    for (const { name, collection } of chosen) {
      results.push(
        await runCollection({
          name,
          collection,
          environment,
          junitFile: join(opts.reports, `${name}.xml`),
          workingDir: API_DIR,
        }),
      );
    }
  } finally {
    await stack?.close();
  }

  for (const r of results) {
    const seconds = (r.durationMs / 1000).toFixed(1);
    process.stdout.write(
      `${r.name}: ${r.assertions.total - r.assertions.failed}/${r.assertions.total} assertions passed, ${r.requests.total} requests, ${r.failures} failures, ${seconds} s\n`,
    );
  }
  process.stdout.write(`JUnit reports in ${opts.reports}\n`);
  const passed = results.reduce((n, r) => n + r.assertions.total - r.assertions.failed, 0);
  const failed = results.reduce((n, r) => n + r.failures, 0);
  process.stdout.write(`api: ${passed} passed, ${failed} failed\n`);
  return failed > 0 ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (
      error instanceof UsageError ||
      (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
    ) {
      process.stderr.write(`test:api: ${(error as Error).message}\n${USAGE}`);
      process.exit(2);
    }
    process.stderr.write(
      `test:api: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
