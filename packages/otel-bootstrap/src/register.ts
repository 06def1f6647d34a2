// `node --import @meskit/otel-bootstrap/register app.js`: telemetry for an ESM (or any)
// application, configured by the environment only. The CommonJS twin is ../../register.cjs.
import { isMainThread } from 'node:worker_threads';

// Worker threads inherit --import: one telemetry per process, started by the main thread.
// The SDK is imported only here, so the application's workers do not pay for loading it.
if (isMainThread) {
  const { startFromImportFlag } = await import('./internal/auto-start.js');
  await startFromImportFlag();
}

export {};
