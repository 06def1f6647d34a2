import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { describeError } from '@meskit/kernel';
import { context, isSpanContextValid, trace } from '@opentelemetry/api';
import { pino, type DestinationStream, type Logger } from 'pino';
import { EnvReader } from './config/env.js';
import { logLevelFromEnv, type LokiConfig } from './config/logs.js';
import { PUSH_EVENT, type LokiWorkerOptions, type PushOutcome } from './loki-worker.js';
import type { SelfMetrics } from './metrics.js';
import { createRedactor, type Redactor } from './redact.js';
import { warn, warnOnce } from './warn.js';

// The root logger is process-wide (every copy of the package hands out the same one), like
// the metrics registry.
const ROOT_KEY = Symbol.for('meskit.otel-bootstrap.rootLogger');

// Returned by the mixin outside any span. pino merges mixin output into the line with
// Object.assign(mixinResult, logObject); our merge strategy returns the log object untouched
// for this marker, so lines outside spans cost no allocation.
const NO_TRACE: Record<string, never> = Object.freeze({}) as Record<string, never>;

interface RootLogging {
  readonly logger: Logger;
  readonly destination: FanOut;
  /** Read on every line, so startTelemetry() can add the configured keys later. */
  readonly settings: { redactor: Redactor };
  /**
   * The fields that open every root logger line (pid, host, then service and env once
   * telemetry starts), put on the application's lines shipped to Loki too.
   */
  readonly identity: Record<string, unknown>;
}

/**
 * Where lines go. A fan-out we can re-point, because getLogger() may hand the logger out
 * before telemetry starts and adds Loki; pino's own multistream cannot change afterwards.
 */
class FanOut implements DestinationStream {
  stdout: DestinationStream | undefined;
  loki: DestinationStream | undefined;

  write(line: string): void {
    this.stdout?.write(line);
    this.loki?.write(line);
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
  const settings = { redactor: createRedactor() };
  const identity: Record<string, unknown> = { pid: process.pid, host: hostname() };
  // Before startTelemetry() the level comes from the environment; it validates and warns.
  const level = logLevelFromEnv(new EnvReader(process.env));
  const logger = pino(
    {
      level,
      // `host`, not pino's `hostname`: pino-loki turns a `hostname` field into a Loki label.
      base: { ...identity },
      mixin: traceFields,
      mixinMergeStrategy: (logObject: object, mixinObject: object) =>
        mixinObject === NO_TRACE ? logObject : Object.assign(mixinObject, logObject),
      formatters: {
        log: (object: Record<string, unknown>) => settings.redactor.value(object),
        bindings: (bindings: pino.Bindings) => settings.redactor.value(bindings),
      },
      serializers: {
        err: (err: Error) => settings.redactor.value(pino.stdSerializers.err(err)),
        req: (req: Parameters<typeof pino.stdSerializers.req>[0]) =>
          settings.redactor.value(pino.stdSerializers.req(req)),
        res: (res: Parameters<typeof pino.stdSerializers.res>[0]) =>
          settings.redactor.value(pino.stdSerializers.res(res)),
      },
      hooks: {
        streamWrite: (line: string) => settings.redactor.line(line),
      },
    },
    destination,
  );
  // With Loki configured, instrumentation-pino gives the loggers that a patched pino()
  // creates a second stream feeding the Logs API, whose records are shipped to Loki as the
  // application's lines (shipAppLogLine). Our own import of pino is normally loaded before the
  // instrumentation and stays unpatched, but a copy of this package loaded later (a library
  // importing `@meskit/otel-bootstrap/logger`) may create the root logger through a patched
  // one. The root logger ships its own lines: keep its stream ours, or each would go twice.
  const loggerFields = logger as unknown as Record<symbol, unknown>;
  if (loggerFields[pino.symbols.streamSym] !== destination) {
    loggerFields[pino.symbols.streamSym] = destination;
  }
  return { logger, destination, settings, identity };
}

/** trace_id, span_id and trace_flags of the active span, the field names instrumentation-pino uses. */
function traceFields(): Record<string, string> {
  const span = trace.getSpan(context.active());
  if (span === undefined) return NO_TRACE;
  const spanContext = span.spanContext();
  if (!isSpanContextValid(spanContext)) return NO_TRACE;
  return {
    trace_id: spanContext.traceId,
    span_id: spanContext.spanId,
    trace_flags: spanContext.traceFlags.toString(16).padStart(2, '0'),
  };
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
  root.logger.setBindings({ service: config.serviceName, env: config.environment });
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
        const timer = setTimeout(resolve, timeoutMs);
        timer.unref();
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
