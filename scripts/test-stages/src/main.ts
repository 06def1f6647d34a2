#!/usr/bin/env node
/**
 * npm test [-- --stage NAME[,NAME...]] [VITEST ARGS...]
 *
 * The whole test pipeline, in order: unit, integration, e2e (vitest, one stage each, chosen by
 * MESKIT_TEST_STAGE in vitest.config.ts), then api (the Postman collections by newman). The real
 * servers are started once for all of them (or reused from MESKIT_SERVICES_DIR) and stopped at
 * the end. The first stage that fails stops the run; the exit code is 1 then, 2 for bad
 * arguments. The last line adds the stages' counts up: `tests: N passed, N failed, N skipped`.
 * Arguments other than --stage go to the vitest stages (a file filter, `-t NAME`, ...).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { attachServices, startServices, type Services } from '@meskit/services';
import { runStages, stageFailed, summarize, type Stage } from './stages.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const VITEST = join(ROOT, 'node_modules', 'vitest', 'vitest.mjs');
const API_RUNNER = join(ROOT, 'scripts', 'api-tests', 'dist', 'main.js');
// newman's dependencies use two APIs Node 24 deprecates; nothing of ours does.
const API_NODE_FLAGS = ['--disable-warning=DEP0044', '--disable-warning=DEP0176'];

function vitestStage(name: string, what: string, extra: readonly string[]): Stage {
  return {
    name,
    what,
    command: process.execPath,
    // Filtered (a file, a test name), a stage may hold nothing that matches: that passes. Not
    // filtered, a stage without a test fails, as vitest says.
    args: [VITEST, 'run', ...(extra.length > 0 ? ['--passWithNoTests'] : []), ...extra],
    env: { MESKIT_TEST_STAGE: name },
  };
}

function plannedStages(extra: readonly string[]): Stage[] {
  return [
    vitestStage('unit', 'each module on its own', extra),
    vitestStage('integration', 'each package against the real servers', extra),
    vitestStage('e2e', 'the whole stack, driven in real browsers', extra),
    {
      name: 'api',
      what: 'the Postman collections in api/, run by newman',
      command: process.execPath,
      args: [...API_NODE_FLAGS, API_RUNNER],
    },
  ];
}

function parseArgs(argv: readonly string[]): { only: string[] | undefined; extra: string[] } {
  const extra: string[] = [];
  let only: string[] | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--stage' || arg.startsWith('--stage=')) {
      const value = arg === '--stage' ? argv[++i] : arg.slice('--stage='.length);
      if (!value) throw new Error('--stage needs a stage name');
      only = [...(only ?? []), ...value.split(',').filter(Boolean)];
    } else {
      extra.push(arg);
    }
  }
  return { only, extra };
}

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`npm test: ${(error as Error).message}\n`);
    return 2;
  }
  const all = plannedStages(parsed.extra);
  const unknown = (parsed.only ?? []).filter((name) => !all.some((s) => s.name === name));
  if (unknown.length > 0) {
    process.stderr.write(
      `npm test: no stage named ${unknown.join(', ')}; the stages are ${all.map((s) => s.name).join(', ')}\n`,
    );
    return 2;
  }
  const stages = parsed.only ? all.filter((s) => parsed.only!.includes(s.name)) : all;

  const reuse = process.env['MESKIT_SERVICES_DIR'];
  let owned: Services | undefined;
  let services: Services;
  if (reuse && existsSync(reuse)) {
    services = attachServices(reuse);
  } else {
    owned = await startServices({ log: (line) => process.stdout.write(`[services] ${line}\n`) });
    services = owned;
  }
  try {
    const results = await runStages({
      stages,
      env: { ...process.env, ...services.urls },
      out: (text) => process.stdout.write(text),
    });
    process.stdout.write(summarize(results, stages));
    return results.length === stages.length && !results.some(stageFailed) ? 0 : 1;
  } finally {
    await owned?.close();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`npm test: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
