import { describeError, getRegistry } from '@meskit/kernel';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import type { Telemetry, TelemetryOptions } from '../options.js';
import { resolveConfig, type ResolvedConfig } from './config/resolve.js';
import { installExitHandlers } from './exit.js';
import { rootLogger, startLogging, type Logging } from './logger.js';
import {
  ensureDefaultMetrics,
  selfMetrics,
  startHttpServerMetrics,
  type SelfMetrics,
} from './metrics.js';
import { startMetricsServer, type MetricsServer } from './metrics-server.js';
import { createRouteNormalizer, type RouteLabeler } from './route.js';
import { startTracing, type Tracing } from './tracing.js';
import { warn, warnOnce } from './warn.js';

// The started telemetry, process-wide: a second start from another copy of the package (or
// the register hook plus the application's own call) must find the first one.
const STARTED_KEY = Symbol.for('meskit.otel-bootstrap.telemetry');

type StartedHolder = { [STARTED_KEY]?: Telemetry };

/** The telemetry started in this process, if any (by `--import`/`--require` or `startTelemetry()`). */
export function getTelemetry(): Telemetry | undefined {
  return (globalThis as StartedHolder)[STARTED_KEY];
}

/**
 * Starts traces, metrics and logs for this process and returns the handle. Call it once,
 * before the application loads its libraries (or use `--import @meskit/otel-bootstrap/register`,
 * which calls it for you). A second call is ignored with a `MESKIT_OTEL_ALREADY_STARTED`
 * warning and returns the first handle.
 *
 * @throws InvalidOptionError (the kernel's, code `INVALID_OPTION`, with `component` and
 *   `option`) synchronously for an option of the wrong type, before anything starts.
 *   Everything that can go wrong at runtime (bad env vars, a port in use, an unreachable
 *   collector) is a warning instead; the host keeps running.
 */
export function startTelemetry(options: TelemetryOptions = {}): Telemetry {
  // Options are checked even when telemetry already runs: a programmer error must surface
  // where it was made, not hide behind an "already started" warning.
  const { config, problems } = resolveConfig(options, process.env);
  const holder = globalThis as StartedHolder;
  const existing = holder[STARTED_KEY];
  if (existing) {
    warnOnce(
      'MESKIT_OTEL_ALREADY_STARTED',
      'telemetry is already running in this process (started by --import/--require @meskit/otel-bootstrap/register or an earlier startTelemetry()); this start is ignored and its options have no effect. Use getTelemetry() to reach the running one',
    );
    return existing;
  }
  for (const problem of problems) {
    warnOnce('MESKIT_OTEL_INVALID_CONFIG', problem.message, problem.variable);
  }
  const telemetry = new RunningTelemetry(config);
  holder[STARTED_KEY] = telemetry;
  return telemetry;
}

class RunningTelemetry implements Telemetry {
  readonly serviceName: string;
  readonly environment: string;
  readonly registry: Registry;
  readonly #config: ResolvedConfig;
  readonly #tracing: Tracing;
  readonly #logging: Logging;
  readonly #metricsServer: MetricsServer | undefined;
  readonly #stopHttpMetrics: (() => void) | undefined;
  readonly #removeExitHandlers: (() => void) | undefined;
  #shutdown: Promise<void> | undefined;

  constructor(config: ResolvedConfig) {
    this.#config = config;
    this.serviceName = config.serviceName;
    this.environment = config.environment;
    this.registry = getRegistry();
    // A foreign metric squatting on one of our names must not stop the start: count into
    // unregistered counters then.
    const metrics: SelfMetrics =
      attempt('telemetry self-metrics', () => selfMetrics(this.registry)) ??
      selfMetrics(new Registry());
    const routeLabel: RouteLabeler = createRouteNormalizer({
      maxRoutes: config.metrics.maxRoutes,
      ...(config.metrics.normalizeRoute ? { normalizeRoute: config.metrics.normalizeRoute } : {}),
    });

    // Tracing first: its instrumentations hook module loading, and must do so before the
    // application requires or imports the libraries they patch.
    this.#tracing = attempt('tracing', () =>
      startTracing(config, { selfMetrics: metrics, routeLabel }),
    ) ?? {
      active: false,
      forceFlush: () => Promise.resolve(),
      shutdown: () => Promise.resolve(),
    };

    if (config.metrics.defaultMetrics)
      attempt('Node.js default metrics', () => ensureDefaultMetrics(this.registry));
    if (config.metrics.httpServerMetrics) {
      this.#stopHttpMetrics = attempt('HTTP server metrics', () =>
        startHttpServerMetrics({
          registry: this.registry,
          buckets: config.metrics.buckets,
          routeLabel,
        }),
      );
    }
    if (config.metrics.port !== false) {
      const port = config.metrics.port;
      this.#metricsServer = attempt('the /metrics server', () =>
        startMetricsServer(this.registry, config.metrics.host, port),
      );
    }

    this.#logging = attempt('logging', () =>
      startLogging(
        {
          ...config.logs,
          serviceName: config.serviceName,
          environment: config.environment,
        },
        metrics,
      ),
    ) ?? { logger: rootLogger(), flush: () => Promise.resolve(), close: () => Promise.resolve() };

    if (config.handleSignals) {
      this.#removeExitHandlers = installExitHandlers({
        flush: () => this.flush(),
        shutdown: () => this.shutdown(),
      });
    }
  }

  get tracing(): boolean {
    return this.#tracing.active;
  }

  get logger(): Logger {
    return this.#logging.logger;
  }

  metricsUrl(): Promise<string | undefined> {
    return this.#metricsServer?.url ?? Promise.resolve(undefined);
  }

  flush(): Promise<void> {
    return settle([this.#tracing.forceFlush(), this.#logging.flush()]);
  }

  shutdown(): Promise<void> {
    this.#shutdown ??= this.#doShutdown();
    return this.#shutdown;
  }

  close(): Promise<void> {
    return this.shutdown();
  }

  async #doShutdown(): Promise<void> {
    const timeoutMs = this.#config.shutdownTimeoutMs;
    this.#removeExitHandlers?.();
    this.#stopHttpMetrics?.();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
      timer.unref();
    });
    const work = settle([
      this.#tracing.shutdown(),
      this.#logging.close(timeoutMs),
      this.#metricsServer?.close() ?? Promise.resolve(),
    ]);
    const outcome = await Promise.race([work.then(() => 'done' as const), timedOut]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      warn(
        'MESKIT_OTEL_SHUTDOWN_TIMEOUT',
        `telemetry did not finish flushing within ${timeoutMs} ms; what was still buffered may be lost (is the collector or Loki reachable?)`,
      );
    }
  }
}

/** Runs one part of the start; a part that throws is off, with one warning, and the rest runs. */
function attempt<T>(part: string, start: () => T): T | undefined {
  try {
    return start();
  } catch (err) {
    warnOnce(
      'MESKIT_OTEL_START_FAILED',
      `could not start ${part}: ${describeError(err)}; the application runs on without it`,
      part,
    );
    return undefined;
  }
}

/** Waits for all, never rejects: telemetry problems are reported by the parts themselves. */
async function settle(promises: readonly Promise<unknown>[]): Promise<void> {
  await Promise.allSettled(promises);
}
