// What `--import @meskit/otel-bootstrap/register` and `--require ...` run: telemetry from
// the environment alone, so the application needs no code change.
import { register } from 'node:module';
import { describeError } from '@meskit/kernel';
import { createAddHookMessageChannel } from 'import-in-the-middle';
import { resolveConfig } from './config/resolve.js';
import { startTelemetry } from './telemetry.js';
import { warnOnce } from './warn.js';

/**
 * The `--import` entry. ESM `import` statements bypass require(), so instrumentations of
 * ESM-imported libraries need Node's module hooks: import-in-the-middle's loader, registered
 * the way OpenTelemetry documents for Node >= 20.6 (module.register of
 * @opentelemetry/instrumentation/hook.mjs). The message channel limits the loader to modules
 * an instrumentation asked for, instead of wrapping every module of the application, and
 * awaiting its acknowledgements guarantees the hooks are in place before the first line of
 * the application runs.
 */
export async function startFromImportFlag(): Promise<void> {
  let hooksReady: (() => Promise<void>) | undefined;
  if (tracingWanted()) {
    try {
      const { registerOptions, waitForAllMessagesAcknowledged } = createAddHookMessageChannel();
      register('@opentelemetry/instrumentation/hook.mjs', import.meta.url, registerOptions);
      hooksReady = waitForAllMessagesAcknowledged;
    } catch (err) {
      warnOnce(
        'MESKIT_OTEL_START_FAILED',
        `could not register the ESM loader hook: ${describeError(err)}; libraries loaded with import are not traced (those loaded with require still are)`,
        'esm-hook',
      );
    }
  }
  startFromRequireFlag();
  if (hooksReady) {
    try {
      await hooksReady();
    } catch (err) {
      warnOnce(
        'MESKIT_OTEL_START_FAILED',
        `the ESM loader hook did not confirm its modules: ${describeError(err)}`,
        'esm-hook-ack',
      );
    }
  }
}

/** The `--require` entry (CommonJS applications): require() is hooked without a loader. */
export function startFromRequireFlag(): void {
  try {
    startTelemetry();
  } catch (err) {
    // With no options given only a bug can throw here; the host must start regardless.
    warnOnce(
      'MESKIT_OTEL_START_FAILED',
      `could not start telemetry: ${describeError(err)}`,
      'auto-start',
    );
  }
}

function tracingWanted(): boolean {
  try {
    return resolveConfig({}, process.env).config.tracing.enabled;
  } catch {
    return false;
  }
}
