import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { describeError } from '@meskit/kernel';
import { pino, type DestinationStream, type Logger } from 'pino';
import { EnvReader } from './config/env.js';
import {
  logFormatFromEnv,
  logIdentityFromEnv,
  logLevelFromEnv,
  type LogFormat,
  type LokiConfig,
} from './config/logs.js';
import {
  ecsLineForLoki,
  rootLoggerOptions,
  traceMixin,
  type LineIdentity,
  type LineSettings,
} from './log-format.js';
import { PUSH_EVENT, type LokiWorkerOptions, type PushOutcome } from './loki-worker.js';
import type { SelfMetrics } from './metrics.js';
import { createRedactor } from './redact.js';
import { warn, warnOnce } from './warn.js';

// The root logger is process-wide (every copy of the package hands out the same one), like
// the metrics registry.
const ROOT_KEY = Symbol.for('meskit.otel-bootstrap.rootLogger');

interface RootLogging {
  readonly logger: Logger;
  readonly destination: FanOut;
  /** Read on every line, so startTelemetry() can add the configured keys later. */
  readonly settings: LineSettings;
  /**
   * The fields that open every pino-format root logger line (pid, host, then service and env
   * once telemetry starts), put on the application's lines shipped to Loki too.
   */
  readonly identity: Record<string, unknown>;
  /** The shape of the root logger's lines (MESKIT_LOG_FORMAT, then the `logFormat` option). */
  format: LogFormat;
}

/**
 * Where lines go. A fan-out we can re-point, because getLogger() may hand the logger out
 * before telemetry starts and adds Loki; pino's own multistream cannot change afterwards.
 */
class FanOut implements DestinationStream {
  stdout: DestinationStream | undefined;
  loki: DestinationStream | undefined;
  /** How a line is adapted for pino-loki (ECS lines: see ecsLineForLoki). */
  lokiLine: ((line: string) => string) | undefined;

  write(line: string): void {
    this.stdout?.write(line);
    if (this.loki !== undefined) this.loki.write(this.lokiLine ? this.lokiLine(line) : line);
  }
}

/** The process's root logger, created on first use with settings from the environment. */
export function rootLogger(): Logger {
  return rootLogging().logger;
}

function rootLogging(): RootLogging {
  const holder = globalThis as { [ROOT_KEY]?: RootLogging };
  holder[ROOT_KEY] ??= createRootLogging();
  return holder[ROOT_KEY];
}

function createRootLogging(): RootLogging {
  const destination = new FanOut();
  // Synchronous stdout (pino's default destination): a line written just before a crash or
  // a process.exit() is not lost.
  destination.stdout = pino.destination({ dest: 1, sync: true });
  const settings: LineSettings = { redactor: createRedactor() };
  const identity: Record<string, unknown> = { pid: process.pid, host: hostname() };
  // Before startTelemetry() level and format come from the environment; it validates and warns.
  const env = new EnvReader(process.env);
  const format = logFormatFromEnv(env);
  const logger = createPinoLogger(
    format,
    logLevelFromEnv(env),
    settings,
    destination,
    // pino lines get service and env when telemetry starts (setBindings); ECS lines are built
    // with service.name and service.environment, the names resolveConfig() will find.
    format === 'ecs' ? logIdentityFromEnv(env) : {},
  );
  destination.lokiLine = format === 'ecs' ? ecsLineForLoki : undefined;
  return { logger, destination, settings, identity, format };
}

function createPinoLogger(
  format: LogFormat,
  level: string,
  settings: LineSettings,
  destination: FanOut,
  lineIdentity: LineIdentity,
): Logger {
  const logger = pino({ ...rootLoggerOptions(format, settings, lineIdentity), level }, destination);
  // With Loki configured, instrumentation-pino gives the loggers that a patched pino()
  // creates a second stream feeding the Logs API, whose records are shipped to Loki as the
  // application's lines (shipAppLogLine), and its own trace mixin. Our own import of pino is
  // normally loaded before the instrumentation and stays unpatched, but a copy of this package
  // loaded later (a library importing `@meskit/otel-bootstrap/logger`) may create the root
  // logger through a patched one. The root logger ships its own lines: keep its stream ours,
  // or each would go twice; and its mixin, or ECS lines would get `trace_id` beside `trace.id`.
  const loggerFields = logger as unknown as Record<symbol, unknown>;
  if (loggerFields[pino.symbols.streamSym] !== destination) {
    loggerFields[pino.symbols.streamSym] = destination;
  }
  const mixin = traceMixin(format);
  if (loggerFields[pino.symbols.mixinSym] !== mixin) loggerFields[pino.symbols.mixinSym] = mixin;
  return logger;
}

/**
 * Gives the root logger another format (or ECS lines another service name) in place: the
 * application may hold it already (getLogger() before startTelemetry()), and `level`, the
 * message key and the rendered base bindings are fixed when a pino logger is built. A fresh
 * logger is built and its own fields moved onto the existing object. Children created earlier
 * keep the bindings they were built with, as they do for service and env in pino format.
 */
function rebuildRootLogger(root: RootLogging, format: LogFormat, identity: LineIdentity): void {
  const fresh = createPinoLogger(
    format,
    root.logger.level,
    root.settings,
    root.destination,
    identity,
  );
  Object.defineProperties(root.logger, Object.getOwnPropertyDescriptors(fresh));
  root.format = format;
  root.destination.lokiLine = format === 'ecs' ? ecsLineForLoki : undefined;
}

/** True while lines are being shipped to Loki (telemetry started with Loki, not yet closed). */
export function shippingToLoki(): boolean {
  return rootLogging().destination.loki !== undefined;
}

/**
 * Ships one line of an application's own logger to Loki, beside the root logger's lines:
 * the same identity fields first, the same redaction, the same transport and labels. Does
 * nothing when Loki is not (or no longer) configured. The line is not written to stdout: the
 * application's logger already wrote it where the application wanted it.
 */
export function shipAppLogLine(fields: Readonly<Record<string, unknown>>): void {
  const root = rootLogging();
  const loki = root.destination.loki;
  if (loki === undefined) return;
  const redactor = root.settings.redactor;
  // pino's order: level and time, the identity fields, then the line's own fields.
  const record = redactor.value({
    level: fields['level'],
    time: fields['time'],
    ...root.identity,
    ...fields,
  });
  loki.write(`${redactor.line(JSON.stringify(record, jsonSafe))}\n`);
}

/** JSON.stringify replacer: BigInt (which it refuses) as a string. */
function jsonSafe(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

export interface LoggingConfig {
  readonly level: string;
  readonly format: LogFormat;
  readonly stdout: boolean;
  readonly loki: LokiConfig | undefined;
  readonly redactKeys: readonly (string | RegExp)[];
  readonly serviceName: string;
  readonly environment: string;
}

export interface Logging {
  readonly logger: Logger;
  flush(): Promise<void>;
  close(timeoutMs: number): Promise<void>;
}

/** Points the root logger at the configured destinations (and Loki) and labels its lines. */
export function startLogging(config: LoggingConfig, metrics: SelfMetrics): Logging {
  const root = rootLogging();
  root.settings.redactor = createRedactor(config.redactKeys);
  root.logger.level = config.level;
  if (config.format === 'pino' && root.format === 'pino') {
    root.logger.setBindings({ service: config.serviceName, env: config.environment });
  } else {
    // ECS lines are always rebuilt: service.name and service.environment are set when built.
    rebuildRootLogger(root, config.format, {
      serviceName: config.serviceName,
      environment: config.environment,
    });
  }
  root.identity['service'] = config.serviceName;
  root.identity['env'] = config.environment;

  let loki: LokiShipper | undefined;
  if (config.loki) {
    loki = startLokiShipper(
      config.loki,
      { service: config.serviceName, env: config.environment },
      metrics,
    );
    root.destination.loki = loki.stream;
  }
  // Only once Loki is in place: if it failed to start, lines keep going to stdout.
  const stdout = root.destination.stdout;
  if (!config.stdout) root.destination.stdout = undefined;

  let closing: Promise<void> | undefined;
  return {
    logger: root.logger,
    flush: () => loki?.flush() ?? Promise.resolve(),
    close(timeoutMs) {
      closing ??= (async () => {
        if (!loki) return;
        // Loki is done. What is logged during the rest of the exit (often the reason for it)
        // goes to stdout rather than nowhere.
        root.destination.loki = undefined;
        root.destination.stdout ??= stdout;
        await loki.close(timeoutMs);
      })();
      return closing;
    },
  };
}

interface LokiShipper {
  readonly stream: DestinationStream;
  flush(): Promise<void>;
  close(timeoutMs: number): Promise<void>;
}

type TransportStream = DestinationStream & {
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  once(event: string, listener: (...args: unknown[]) => void): unknown;
  end(): void;
  flush?(callback: (err?: Error | null) => void): void;
  readonly closed?: boolean;
};

function startLokiShipper(
  loki: LokiConfig,
  labels: Readonly<Record<string, string>>,
  metrics: SelfMetrics,
): LokiShipper {
  const options: LokiWorkerOptions = {
    pushUrl: loki.pushUrl,
    ...(loki.basicAuth ? { basicAuth: loki.basicAuth } : {}),
    headers: loki.headers,
    labels,
    batchIntervalMs: loki.batchIntervalMs,
    maxBufferedLines: loki.maxBufferedLines,
    timeoutMs: loki.timeoutMs,
  };
  const transport = pino.transport({
    target: fileURLToPath(new URL('./loki-worker.js', import.meta.url)),
    options,
    // The worker needs none of the host's flags; inheriting `--import`/`--require` of this
    // package would start telemetry again inside the worker.
    worker: { execArgv: [] },
  }) as TransportStream;

  let failing = false;
  transport.on(PUSH_EVENT, (...args: unknown[]) => {
    const outcome = args[0] as PushOutcome;
    if (outcome.ok) {
      failing = false;
      return;
    }
    metrics.logLinesDropped.inc({ reason: 'push_failed' }, outcome.lines);
    if (failing) return;
    failing = true;
    const why =
      outcome.status !== undefined
        ? `Loki answered ${outcome.status}`
        : (outcome.error ?? 'no answer');
    warn(
      'MESKIT_OTEL_LOKI_PUSH_FAILED',
      `cannot push log lines to Loki at ${new URL(loki.pushUrl).host}: ${why}. Lines are dropped (meskit_otel_log_lines_dropped_total) until Loki takes them again; the application is not affected. Check MESKIT_LOKI_URL`,
    );
  });
  transport.on('error', (err: unknown) => {
    warnOnce(
      'MESKIT_OTEL_LOKI_PUSH_FAILED',
      `the Loki log transport failed: ${describeError(err)}. Log lines are no longer shipped to Loki`,
      'transport',
    );
  });

  let closing: Promise<void> | undefined;
  return {
    stream: transport,
    flush: () =>
      new Promise<void>((resolve) => {
        if (typeof transport.flush !== 'function' || transport.closed) {
          resolve();
          return;
        }
        transport.flush(() => resolve());
      }),
    close(timeoutMs) {
      closing ??= new Promise<void>((resolve) => {
        if (transport.closed) {
          resolve();
          return;
        }
        // Ending the stream makes pino-loki push what it still buffers, then the worker exits.
        // The timer stays referenced: the transport's worker is not, so without it a process
        // awaiting this close with nothing else to do would exit before the last push (a
        // top-level await left unsettled, exit code 13). It is bounded and cleared on close.
        const timer = setTimeout(resolve, timeoutMs);
        transport.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
        transport.end();
      });
      return closing;
    },
  };
}
