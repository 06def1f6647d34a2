// One collection through newman's Node API: the cli reporter on stdout, the junit reporter to
// a file, and the counts the runner adds up.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import newman, { type NewmanRunOptions, type NewmanRunSummary } from 'newman';
import type { PostmanCollection, PostmanEnvironment } from './collections.js';

export interface CollectionResult {
  name: string;
  assertions: { total: number; failed: number };
  requests: { total: number; failed: number };
  /** Every failure newman reports: failed assertions, request errors, script errors. */
  failures: number;
  durationMs: number;
}

export async function runCollection(opts: {
  name: string;
  collection: PostmanCollection;
  environment: PostmanEnvironment;
  /** The JUnit XML file to write. */
  junitFile: string;
  /** Where file bodies (`src`) of form uploads are read from. */
  workingDir: string;
}): Promise<CollectionResult> {
  mkdirSync(dirname(opts.junitFile), { recursive: true });
  const options: NewmanRunOptions = {
    collection: opts.collection as unknown as NewmanRunOptions['collection'],
    environment: opts.environment as unknown as NewmanRunOptions['environment'],
    reporters: ['cli', 'junit'],
    reporter: { junit: { export: opts.junitFile } },
    workingDir: opts.workingDir,
    // The MES prices a B2B model inside the request (legacy, deliberately slow).
    timeoutRequest: 60_000,
  };
  const started = Date.now();
  const summary = await new Promise<NewmanRunSummary>((resolve, reject) => {
    newman.run(options, (error, result) => (error ? reject(error) : resolve(result)));
  });
  const { assertions, requests } = summary.run.stats;
  return {
    name: opts.name,
    assertions: { total: assertions.total ?? 0, failed: assertions.failed ?? 0 },
    requests: { total: requests.total ?? 0, failed: requests.failed ?? 0 },
    failures: summary.run.failures.length + (summary.error ? 1 : 0),
    durationMs: Date.now() - started,
  };
}
