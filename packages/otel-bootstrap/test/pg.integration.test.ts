// The pg query spans of src/internal/pg-instrumentation.ts, on a real PostgreSQL: every call
// form an application uses gets the span upstream's instrumentation-pg would make (name,
// kind, attributes, error), parented to the caller's span, and callbacks run in the caller's
// context. And which configurations load upstream's instrumentation instead.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { needsUpstreamPg, operationName } from '../src/internal/pg-instrumentation.js';
import { serviceUrls } from '@meskit/testkit';
import { spawnApp } from './helpers.js';
import {
  SPAN_KIND,
  startOtlpReceiver,
  type OtlpReceiver,
  type ReceivedSpan,
} from './peers/index.js';

type Done = Record<string, unknown> & {
  traceId: string;
  parentSpanId: string;
  callback?: string;
  configCallback?: string;
  errorCode?: string;
};

let otlp: OtlpReceiver;
let done: Done;
let spans: ReceivedSpan[];
let database: string;

beforeAll(async () => {
  otlp = await startOtlpReceiver();
  const url = new URL(serviceUrls().databaseUrl);
  database = url.pathname.slice(1);
  const app = spawnApp({
    flag: '--import',
    app: 'pg-forms.mjs',
    env: {
      DATABASE_URL: url.href,
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
      OTEL_BSP_SCHEDULE_DELAY: '100',
      MESKIT_METRICS_PORT: 'off',
    },
  });
  done = await app.waitForEvent<Done>('done');
  await app.exited;
  // Nine queries, and the two spans of the fixture's own.
  spans = await otlp.waitForSpans(
    (all) =>
      all.filter((s) => s.name.startsWith('pg.query')).length >= 9 &&
      all.some((s) => s.name === 'parent') &&
      all.some((s) => s.name === 'other'),
  );
}, 60_000);

afterAll(async () => {
  await otlp?.close();
});

const queries = () => spans.filter((s) => s.name.startsWith('pg.query'));
const byText = (text: string) => queries().find((s) => s.attributes['db.query.text'] === text);

describe('pg query spans', () => {
  it('names each span by its verb (or plan) and database, with the connection attributes', () => {
    const select = byText('  select $1::int AS n')!;
    expect(select.name).toBe(`pg.query:SELECT ${database}`);
    expect(select.kind).toBe(SPAN_KIND.CLIENT);
    expect(select.attributes).toMatchObject({
      'db.system.name': 'postgresql',
      'db.namespace': database,
      'server.address': '127.0.0.1',
    });
    expect(select.attributes['server.port']).toEqual(expect.any(Number));
    const plan = byText('SELECT $1::int AS n')!;
    expect(plan.name).toBe(`pg.query:fixture-plan ${database}`);
    expect(plan.attributes['db.postgresql.plan']).toBe('fixture-plan');
  });

  it('makes a span for every call form, each a child of the caller span', () => {
    for (const text of [
      '  select $1::int AS n',
      'SELECT 2 AS n',
      'SELECT $1::int AS n',
      'SELECT 4 AS n',
      'SELECT 5 AS n',
      'SELECT * FROM no_such_table',
      'SELECT 6 AS n',
    ]) {
      const span = byText(text);
      expect(span, text).toBeDefined();
      expect(span!.traceId, text).toBe(done.traceId);
      expect(span!.parentSpanId, text).toBe(done.parentSpanId);
    }
    // The query with no span around it is a root of its own.
    expect(byText('SELECT 1')!.parentSpanId).toBeUndefined();
  });

  it('keeps the parent of a caller that waited for a pooled client', () => {
    const other = spans.find((s) => s.name === 'other')!;
    expect(byText('SELECT 7 AS n')!.parentSpanId).toBe(other.spanId);
  });

  it('runs callbacks in the caller context', () => {
    expect(done.callback).toBe(done.parentSpanId);
    expect(done.configCallback).toBe(done.parentSpanId);
  });

  it('records a failed query as upstream does: error status, a sanitized exception', () => {
    expect(done.errorCode).toBe('42P01');
    const failed = byText('SELECT * FROM no_such_table')!;
    expect(failed.status.code).toBe(2);
    expect(failed.status.message).toMatch(/no_such_table/);
    const exception = failed.events.find((e) => e.name === 'exception');
    expect(exception?.attributes['exception.message']).toBe(
      "PostgreSQL error of type 'error' occurred (code: 42P01)",
    );
  });
});

describe('pg queries of a trace that is not sampled', () => {
  it('record no span, and callbacks still run in the caller context', async () => {
    const receiver = await startOtlpReceiver();
    try {
      const app = spawnApp({
        flag: '--import',
        app: 'pg-forms.mjs',
        env: {
          DATABASE_URL: serviceUrls().databaseUrl,
          OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
          OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
          OTEL_TRACES_SAMPLER_ARG: '0',
          MESKIT_METRICS_PORT: 'off',
        },
      });
      const unsampled = await app.waitForEvent<Done>('done');
      await app.exited;
      expect(unsampled.errorCode).toBe('42P01');
      expect(unsampled.callback).toBe(unsampled.parentSpanId);
      expect(unsampled.configCallback).toBe(unsampled.parentSpanId);
      expect(receiver.spanCount).toBe(0);
    } finally {
      await receiver.close();
    }
  });
});

describe('operationName', () => {
  it('is the first word, upper case, without a trailing semicolon or whitespace', () => {
    expect(operationName('  select $1::int AS n')).toBe('SELECT');
    expect(operationName('SELECT\n  id\nFROM orders')).toBe('SELECT');
    expect(operationName('\tcommit;')).toBe('COMMIT');
    expect(operationName('BEGIN')).toBe('BEGIN');
    expect(operationName('\u00a0update orders SET')).toBe('UPDATE');
    expect(operationName('   ')).toBe('');
  });
});

describe('needsUpstreamPg', () => {
  it('keeps the lean patch for the defaults and requireParentSpan', () => {
    expect(needsUpstreamPg({})).toBe(false);
    expect(needsUpstreamPg({ requireParentSpan: true, ignoreConnectSpans: true })).toBe(false);
  });
  it('loads upstream for what only upstream does', () => {
    expect(needsUpstreamPg({ ignoreConnectSpans: false })).toBe(true);
    expect(needsUpstreamPg({ requestHook: () => undefined })).toBe(true);
    expect(needsUpstreamPg({ responseHook: () => undefined })).toBe(true);
    expect(needsUpstreamPg({ enhancedDatabaseReporting: true })).toBe(true);
    expect(needsUpstreamPg({ addSqlCommenterCommentToQueries: true })).toBe(true);
  });
});
