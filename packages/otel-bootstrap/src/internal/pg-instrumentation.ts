// Query spans for `pg`, leaner than upstream's instrumentation-pg at its defaults. Profiled on
// the MES's get-one-order (docs/benchmarks.md "otel"), upstream's query patch was the largest
// single cost of a traced request: per query it builds a query-config copy and two attribute
// objects, parses the operation name again, records an operation-duration histogram through the
// OpenTelemetry metrics API (a no-op here: metrics are prom-client's), and wraps pg-pool's
// events to keep connection counters. Here a query gets the same span (name
// `pg.query:<VERB> <db>`, kind CLIENT, attributes db.system.name, db.namespace, server.address,
// server.port, db.query.text, db.postgresql.plan for a named statement, the error recorded as
// upstream records it) and nothing else: the span name is cached per SQL text, the connection's
// attributes are read once per client.
//
// What needs upstream's features (request/response/connection hooks, connect spans, SQL
// commenter, enhanced reporting, trace context propagation) loads upstream's instrumentation
// instead: see `needsUpstreamPg` and tracing.ts.
import {
  SpanKind,
  SpanStatusCode,
  context,
  trace,
  type Context,
  type Span,
} from '@opentelemetry/api';
import {
  InstrumentationBase,
  InstrumentationNodeModuleDefinition,
  InstrumentationNodeModuleFile,
  isWrapped,
  type InstrumentationConfig,
} from '@opentelemetry/instrumentation';
import type { PgInstrumentationConfig } from '@opentelemetry/instrumentation-pg';
import { isUnsampledIssued } from './lean-tracer.js';

/** The options only upstream's instrumentation-pg implements. */
const UPSTREAM_ONLY: readonly (keyof PgInstrumentationConfig)[] = [
  'requestHook',
  'responseHook',
  'connectionHook',
  'addSqlCommenterCommentToQueries',
  'enhancedDatabaseReporting',
  'enableTraceContextPropagation',
];

/** Whether this configuration asks for something only upstream's instrumentation does. */
export function needsUpstreamPg(config: PgInstrumentationConfig): boolean {
  if (config.ignoreConnectSpans === false) return true;
  return UPSTREAM_ONLY.some((key) => config[key] !== undefined && config[key] !== false);
}

export interface LeanPgConfig extends InstrumentationConfig {
  /** Only trace queries made under an active span (upstream's option of the same name). */
  requireParentSpan?: boolean;
  /**
   * The registered sampler drops every child of an unsampled parent (tracing.ts knows): a
   * query under such a parent then skips the span name and attributes. Default: false.
   */
  parentDecides?: boolean;
}

interface PgClient {
  connectionParameters: { database?: string; host?: string; port?: unknown };
  [CLIENT_ATTRIBUTES]?: Readonly<Record<string, string | number | undefined>>;
}
type QueryFn = (this: PgClient, ...args: unknown[]) => unknown;
type ConnectFn = (this: unknown, callback?: unknown) => unknown;
interface PgModule {
  Client?: { prototype: { query: QueryFn } };
}
interface PgPoolModule {
  prototype: { connect: ConnectFn };
}

const CLIENT_ATTRIBUTES = Symbol('meskit.pg.attributes');
const NAME_CACHE_SIZE = 1_000;
const VERSIONS = ['>=8.0.3 <9'];
const POOL_VERSIONS = ['>=2.0.0 <4'];

/** Whitespace as String.prototype.trim sees it (\s). */
function isSpace(code: number): boolean {
  return (
    code === 32 || (code >= 9 && code <= 13) || (code > 127 && /\s/.test(String.fromCharCode(code)))
  );
}

/**
 * `SELECT` of `  select * ...`: upstream's normalised operation name (the first word, upper
 * case, without a trailing `;`), read in place: only the word is copied, never the statement.
 * Unlike upstream, a word followed by a line break keeps no whitespace (`SELECT\n  id` gives
 * `SELECT`, upstream `SELECT\n`).
 */
export function operationName(text: string): string {
  const length = text.length;
  let start = 0;
  while (start < length && isSpace(text.charCodeAt(start))) start++;
  let end = start;
  while (end < length && !isSpace(text.charCodeAt(end))) end++;
  const verb = text.slice(start, end).toUpperCase();
  return verb.endsWith(';') ? verb.slice(0, -1) : verb;
}

/** Upstream's sanitized exception message: the type and SQLSTATE, never the statement. */
function sanitized(error: { name?: unknown; code?: unknown } | undefined): string {
  return `PostgreSQL error of type '${String(error?.name ?? 'PostgreSQLError')}' occurred (code: ${String(error?.code ?? 'UNKNOWN')})`;
}

function failSpan(span: Span, error: unknown): void {
  const e = error as { name?: unknown; code?: unknown; message?: unknown } | undefined;
  if (error instanceof Error) span.recordException(sanitized(e));
  span.setStatus({
    code: SpanStatusCode.ERROR,
    message: typeof e?.message === 'string' ? e.message : undefined,
  });
  span.end();
}

export class LeanPgInstrumentation extends InstrumentationBase<LeanPgConfig> {
  /** Database -> operation (verb or plan) -> span name; bounded per database. */
  readonly #names = new Map<string, Map<string, string>>();

  constructor(config: LeanPgConfig = {}) {
    super('@meskit/otel-bootstrap/pg', '0.1.0', config);
  }

  protected init() {
    const patchClient = (client: PgModule['Client']) => {
      if (!client) return;
      if (isWrapped(client.prototype.query)) this._unwrap(client.prototype, 'query');
      this._wrap(client.prototype, 'query', (original: QueryFn) => this.#queryPatch(original));
    };
    const unpatchClient = (client: PgModule['Client']) => {
      if (client && isWrapped(client.prototype.query)) this._unwrap(client.prototype, 'query');
    };
    const moduleOf = <T>(m: unknown): T =>
      ((m as { [Symbol.toStringTag]?: string })[Symbol.toStringTag] === 'Module'
        ? (m as { default: T }).default
        : m) as T;
    return [
      new InstrumentationNodeModuleDefinition(
        'pg',
        VERSIONS,
        (m: unknown) => {
          patchClient(moduleOf<PgModule>(m).Client);
          return m;
        },
        (m: unknown) => {
          unpatchClient(moduleOf<PgModule>(m).Client);
          return m;
        },
        [
          new InstrumentationNodeModuleFile(
            'pg/lib/client.js',
            VERSIONS,
            (m: unknown) => {
              patchClient(moduleOf<PgModule['Client']>(m));
              return m;
            },
            (m: unknown) => {
              unpatchClient(moduleOf<PgModule['Client']>(m));
              return m;
            },
          ),
        ],
      ),
      // pg-pool hands a waiting caller a client from the callback of whoever released it, in
      // that caller's async context; bound here, the query's span gets its own parent.
      new InstrumentationNodeModuleDefinition(
        'pg-pool',
        POOL_VERSIONS,
        (m: unknown) => {
          const pool = moduleOf<PgPoolModule>(m);
          if (isWrapped(pool.prototype.connect)) this._unwrap(pool.prototype, 'connect');
          this._wrap(
            pool.prototype,
            'connect',
            (original: ConnectFn) =>
              function connect(this: unknown, callback?: unknown) {
                if (
                  typeof callback === 'function' &&
                  mayWait(this) &&
                  trace.getSpan(context.active()) !== undefined
                )
                  return original.call(this, context.bind(context.active(), callback));
                return original.call(this, callback);
              },
          );
          return m;
        },
        (m: unknown) => {
          const pool = moduleOf<PgPoolModule>(m);
          if (isWrapped(pool.prototype.connect)) this._unwrap(pool.prototype, 'connect');
          return m;
        },
      ),
    ];
  }

  #spanName(text: string | undefined, database: string | undefined, plan: string | undefined) {
    if (text === undefined) return 'pg.query';
    // Keyed by the verb (or plan) and the database, not by the statement: hashing a long
    // SQL text, often built anew per call, cost more than reading its first word.
    const operation = plan ?? operationName(text);
    const db = database ?? '';
    let names = this.#names.get(db);
    if (names === undefined) this.#names.set(db, (names = new Map()));
    let name = names.get(operation);
    if (name === undefined) {
      name = `pg.query:${operation}${database ? ` ${database}` : ''}`;
      if (names.size >= NAME_CACHE_SIZE) names.clear();
      names.set(operation, name);
    }
    return name;
  }

  #queryPatch(original: QueryFn): QueryFn {
    const spanName = (
      text: string | undefined,
      database: string | undefined,
      plan: string | undefined,
    ) => this.#spanName(text, database, plan);
    const config = () => this.getConfig();
    const tracer = () => this.tracer;
    return function query(this: PgClient, ...args: unknown[]): unknown {
      const active = context.active();
      const parent = trace.getSpan(active);
      if (parent === undefined && config().requireParentSpan === true)
        return original.apply(this, args);
      // Under an unsampled parent whose children are dropped: the span would be that parent.
      if (config().parentDecides === true && isUnsampledIssued(parent))
        return original.apply(this, bindCallback(args, active));
      const first = args[0] as { text?: unknown; name?: unknown } | string | undefined;
      const text =
        typeof first === 'string'
          ? first
          : typeof first?.text === 'string'
            ? first.text
            : undefined;
      const plan =
        typeof first === 'object' && typeof first?.name === 'string' && first.name !== ''
          ? first.name
          : undefined;
      const attributes = (this[CLIENT_ATTRIBUTES] ??= connectionAttributes(this));
      const span = tracer().startSpan(
        spanName(text, this.connectionParameters.database, plan),
        { kind: SpanKind.CLIENT, attributes },
        active,
      );
      const last = args.length - 1;
      let callback = args[last];
      // Not sampled: nothing to end or record.
      if (!span.isRecording())
        return original.apply(this, parent === undefined ? args : bindCallback(args, active));
      if (text !== undefined) span.setAttribute('db.query.text', text);
      if (plan !== undefined) span.setAttribute('db.postgresql.plan', plan);
      if (typeof callback === 'function') {
        args[last] = endingCallback(
          span,
          callback as Callback,
          parent === undefined ? undefined : active,
        );
      } else if (hasConfigCallback(first)) {
        // A query config carrying its callback: a copy with the wrapped one, the caller's object
        // left as it was.
        callback = first.callback;
        args[0] = {
          ...first,
          callback: endingCallback(
            span,
            callback as Callback,
            parent === undefined ? undefined : active,
          ),
        };
      }
      let result: unknown;
      try {
        result = original.apply(this, args);
      } catch (error) {
        failSpan(span, error);
        throw error;
      }
      if (typeof callback === 'function') return result;
      if (!(result instanceof Promise)) {
        // A submittable (pg.Query, a cursor): its end or error ends the span when it says so.
        const emitter = result as { once?: (event: string, fn: (e?: unknown) => void) => void };
        if (typeof emitter?.once === 'function') {
          emitter.once('end', () => span.end());
          emitter.once('error', (error) => failSpan(span, error));
        } else span.end();
        return result;
      }
      return result.then(
        (value: unknown) => {
          span.end();
          return value;
        },
        (error: unknown) => {
          failSpan(span, error);
          throw error;
        },
      );
    };
  }
}

/**
 * Whether pg-pool will queue this checkout behind others (no idle client, no room for a new
 * one, or callers already waiting): only then is the callback run from another caller's
 * release. An idle client is handed over on a process.nextTick and a new one from its own
 * connect, both in this caller's context, so those need no binding (one closure less per
 * query). Unknown pool internals: assume it may wait.
 */
function mayWait(pool: unknown): boolean {
  const p = pool as {
    _pendingQueue?: unknown[];
    _idle?: unknown[];
    _isFull?: () => boolean;
  };
  if (!Array.isArray(p._pendingQueue) || !Array.isArray(p._idle) || typeof p._isFull !== 'function')
    return true;
  return p._pendingQueue.length > 0 || (p._idle.length === 0 && p._isFull());
}

/**
 * The query's arguments with its callback, if any, bound to the caller's context: an
 * unsampled query's callback still runs there (its logs carry the trace id, its own spans
 * the parent).
 */
function bindCallback(args: unknown[], active: Context): unknown[] {
  const last = args.length - 1;
  const first = args[0];
  if (typeof args[last] === 'function') args[last] = context.bind(active, args[last] as Callback);
  else if (hasConfigCallback(first))
    args[0] = { ...first, callback: context.bind(active, first.callback) };
  return args;
}

/** A plain query config carrying its callback (not a submittable such as pg.Query). */
function hasConfigCallback(first: unknown): first is { callback: Callback } & object {
  return (
    typeof first === 'object' &&
    first !== null &&
    typeof (first as { callback?: unknown }).callback === 'function' &&
    typeof (first as { submit?: unknown }).submit !== 'function'
  );
}

type Callback = (this: unknown, error: unknown, result: unknown) => unknown;

/** The callback that ends the span first; bound to the caller's context when it had a span. */
function endingCallback(span: Span, callback: Callback, bindTo: Context | undefined): Callback {
  const done = function (this: unknown, error: unknown, result: unknown) {
    if (error) failSpan(span, error);
    else span.end();
    return callback.call(this, error, result);
  };
  return bindTo === undefined ? done : context.bind(bindTo, done);
}

function connectionAttributes(client: PgClient): Record<string, string | number | undefined> {
  const { database, host, port } = client.connectionParameters;
  return {
    'db.system.name': 'postgresql',
    'db.namespace': database,
    'server.address': host,
    'server.port': Number.isInteger(port) ? (port as number) : undefined,
  };
}
