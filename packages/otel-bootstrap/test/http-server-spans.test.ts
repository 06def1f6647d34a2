// HTTP server spans from Node's http diagnostics channels, in-process: a real node:http
// server, a real SDK tracer provider and our context manager, spans collected in memory.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SpanKind, SpanStatusCode, context, propagation, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { TracerProvider, type ReadableSpan, type SpanProcessor } from '@opentelemetry/sdk-trace';
import { EventEmitter, once } from 'node:events';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createRouteNormalizer } from '../src/index.js';
import { EnterableContextManager } from '../src/internal/context-manager.js';
import { startHttpServerSpans } from '../src/internal/http-server-spans.js';
import { LeanContext } from '../src/internal/lean-context.js';
import { samplerFromEnv } from '../src/internal/sampler.js';

// Ended spans, collected as they end. The server span ends on 'finish', which may come after
// the client read the response: tests await the 'server' event instead of sleeping.
const finished: ReadableSpan[] = [];
const ended = new EventEmitter();
const collect: SpanProcessor = {
  onStart: () => undefined,
  onEnd(span) {
    finished.push(span);
    if (span.kind === SpanKind.SERVER) ended.emit('server');
  },
  forceFlush: () => Promise.resolve(),
  shutdown: () => Promise.resolve(),
};
const provider = new TracerProvider({ spanProcessors: [collect] });
const contextManager = new EnterableContextManager();
const appTracer = provider.getTracer('app');
let url = '';
let stop: (() => void) | undefined;
const server = createServer((request, response) => void handle(request, response));

/** What the handler saw: the active span's ids, before and after an await. */
interface Seen {
  traceId: string | undefined;
  spanIdBeforeAwait: string | undefined;
  spanIdAfterAwait: string | undefined;
  /** The active context is this package's LeanContext, not the API's BaseContext. */
  leanContext: boolean;
}

async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
  const before = trace.getActiveSpan()?.spanContext();
  await new Promise((resolve) => setTimeout(resolve, 5));
  // A library's span (pg, amqplib) started from the active context after an await.
  appTracer.startSpan('child').end();
  const after = trace.getActiveSpan()?.spanContext();
  const seen: Seen = {
    traceId: before?.traceId,
    spanIdBeforeAwait: before?.spanId,
    spanIdAfterAwait: after?.spanId,
    leanContext: context.active() instanceof LeanContext,
  };
  const status = request.url === '/fail' ? 503 : 200;
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(seen));
}

beforeAll(async () => {
  context.setGlobalContextManager(contextManager.enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  stop = startHttpServerSpans({
    tracer: provider.getTracer('server'),
    contextManager,
    routeLabel: createRouteNormalizer(),
    config: {},
    // As in production with the built-in samplers: attributes once the span is known to record.
    sampleBeforeAttributes: true,
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  stop?.();
  await new Promise((resolve) => server.close(resolve));
  context.disable();
  propagation.disable();
});

beforeEach(() => void finished.splice(0));

/** GET, resolved once the request's server span has ended. */
async function get(path: string, headers: Record<string, string> = {}): Promise<Seen> {
  const serverSpanEnded = once(ended, 'server');
  const response = await fetch(`${url}${path}`, { headers });
  const seen = (await response.json()) as Seen;
  await serverSpanEnded;
  return seen;
}

function serverSpans(): ReadableSpan[] {
  return finished.filter((s) => s.kind === SpanKind.SERVER);
}

describe('HTTP server spans from diagnostics channels', () => {
  it('continues the caller trace from traceparent, with stable semconv attributes and the route as name', async () => {
    const callerTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
    const callerSpan = '00f067aa0ba902b7';
    const seen = await get('/orders/42?view=full', {
      traceparent: `00-${callerTrace}-${callerSpan}-01`,
      'user-agent': 'test-agent',
    });
    const [span] = serverSpans();
    expect(span).toBeDefined();
    expect(span!.spanContext().traceId).toBe(callerTrace);
    expect(span!.parentSpanContext?.spanId).toBe(callerSpan);
    expect(span!.name).toBe('GET /orders/:id');
    expect(span!.attributes).toMatchObject({
      'http.request.method': 'GET',
      'url.scheme': 'http',
      'url.path': '/orders/42',
      'url.query': 'view=full',
      'server.address': '127.0.0.1',
      'server.port': Number(new URL(url).port),
      'client.address': '127.0.0.1',
      'user_agent.original': 'test-agent',
      'http.route': '/orders/:id',
      'http.response.status_code': 200,
    });
    expect(span!.status.code).toBe(SpanStatusCode.UNSET);
    expect(seen.traceId).toBe(callerTrace);
  });

  it('is the active span in the handler, across awaits, and parents the spans started there', async () => {
    const seen = await get('/orders/7');
    const [span] = serverSpans();
    const spanId = span!.spanContext().spanId;
    expect(seen.spanIdBeforeAwait).toBe(spanId);
    expect(seen.spanIdAfterAwait).toBe(spanId);
    // Entered once per request: the lean context, whose instances hold no closures of their own.
    expect(seen.leanContext).toBe(true);
    const child = finished.find((s) => s.name === 'child');
    expect(child?.parentSpanContext?.spanId).toBe(spanId);
    expect(child?.spanContext().traceId).toBe(span!.spanContext().traceId);
  });

  it('starts a new root for each request without traceparent: no context leaks between requests', async () => {
    const first = await get('/orders/1');
    const second = await get('/orders/2');
    expect(first.traceId).not.toBe(second.traceId);
    const spans = serverSpans();
    expect(spans).toHaveLength(2);
    for (const span of spans) expect(span.parentSpanContext).toBeUndefined();
  });

  it('marks 5xx responses as errors', async () => {
    await get('/fail');
    const [span] = serverSpans();
    expect(span!.status.code).toBe(SpanStatusCode.ERROR);
    expect(span!.attributes).toMatchObject({
      'http.response.status_code': 503,
      'error.type': '503',
    });
  });
});

describe('HTTP server spans that are not sampled', () => {
  it('record nothing, and the handler still runs in their trace', async () => {
    stop?.();
    const unsampled = new TracerProvider({
      spanProcessors: [collect],
      sampler: samplerFromEnv('parentbased_traceidratio', '0').sampler,
    });
    const stopUnsampled = startHttpServerSpans({
      tracer: unsampled.getTracer('server'),
      contextManager,
      routeLabel: createRouteNormalizer(),
      config: {},
      sampleBeforeAttributes: true,
    });
    try {
      const callerTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
      const response = await fetch(`${url}/orders/9`, {
        headers: { traceparent: `00-${callerTrace}-00f067aa0ba902b7-00` },
      });
      const seen = (await response.json()) as Seen;
      expect(seen.traceId).toBe(callerTrace);
      expect(seen.spanIdBeforeAwait).toMatch(/^[0-9a-f]{16}$/);
      expect(seen.spanIdAfterAwait).toBe(seen.spanIdBeforeAwait);
      // Neither the server span nor the handler's child (parent-based: not sampled either).
      expect(finished).toEqual([]);
    } finally {
      stopUnsampled();
    }
  });
});
