import { defineConfig } from 'vitest/config';

const EXCLUDE = ['**/node_modules/**', '**/dist/**'];

/**
 * The files of each stage of `npm test` (scripts/test-stages), chosen by MESKIT_TEST_STAGE.
 * Without it (`npx vitest run <file>` while developing), every test file is a candidate.
 */
const STAGES: Record<string, { include: string[]; exclude: string[] }> = {
  unit: {
    include: ['**/test/**/*.test.ts'],
    exclude: [...EXCLUDE, '**/*.integration.test.ts', '**/*.e2e.test.ts'],
  },
  integration: { include: ['**/test/**/*.integration.test.ts'], exclude: EXCLUDE },
  e2e: { include: ['test/e2e/**/*.e2e.test.ts'], exclude: EXCLUDE },
};

const stageName = process.env['MESKIT_TEST_STAGE'];
const stage = stageName === undefined ? undefined : STAGES[stageName];
if (stageName !== undefined && stage === undefined) {
  throw new Error(
    `MESKIT_TEST_STAGE=${stageName} names no stage; the stages are ${Object.keys(STAGES).join(', ')}`,
  );
}

export default defineConfig({
  test: {
    include: stage?.include ?? ['**/test/**/*.test.ts'],
    exclude: stage?.exclude ?? EXCLUDE,
    // Real PostgreSQL (primary + replica), Redis, RabbitMQ and Prometheus for the whole run.
    globalSetup: ['./vitest.global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Two cores: the servers share the machine with the test workers. The E2E files drive
    // browsers and a whole stack each: one at a time.
    maxWorkers: stageName === 'e2e' ? 1 : 2,
    reporters: ['default', './vitest.summary-reporter.ts'],
  },
});
