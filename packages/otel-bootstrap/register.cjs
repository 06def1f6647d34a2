'use strict';
// `node --require @meskit/otel-bootstrap/register app.cjs`: telemetry for a CommonJS
// application, configured by the environment only. The package is ESM; Node >= 22.12 loads
// it synchronously with require(esm), so every module the application requires afterwards
// is instrumented. (The ESM twin, with the import loader hook, is dist/src/register.js.)
// eslint-disable-next-line @typescript-eslint/no-require-imports -- a CommonJS entry point
const { isMainThread } = require('node:worker_threads');

// Worker threads inherit --require: one telemetry per process, started by the main thread.
if (isMainThread) {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a CommonJS entry point
    require('./dist/src/internal/auto-start.js').startFromRequireFlag();
  } catch (err) {
    // Telemetry must never keep the application from starting (an unbuilt package, a Node
    // without require(esm)): say so once and let it run.
    process.emitWarning(
      `@meskit/otel-bootstrap could not start: ${err instanceof Error ? err.message : String(err)}; the application runs without telemetry`,
      { type: 'MeskitTelemetryWarning', code: 'MESKIT_OTEL_START_FAILED' },
    );
  }
}
