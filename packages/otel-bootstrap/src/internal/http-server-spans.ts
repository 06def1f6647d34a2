// HTTP server spans from Node's http diagnostics channels, instead of instrumentation-http's
// wrapping of Server#emit. Measured on the otel bench (docs/benchmarks.md): upstream's incoming
// path (emit wrapper, context.with per request, a dozen old+new semconv attributes, bound
// event emitters) was about a fifth of a trivial endpoint's CPU. Here a request costs one
// span, a handful of attributes, one enterWith and one 'close' listener.
//
// What is kept from upstream: W3C trace context extraction (the global propagator), the span
// active in the request handler (so pg/amqplib/ioredis spans and pino trace ids attach to it),
// stable semantic-convention attributes, status ERROR for 5xx and aborted responses, and the
// user's hooks from `instrumentations.http` that concern server spans.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  SpanKind,
  SpanStatusCode,
  propagation,
  trace,
  type Attributes,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import type { HttpInstrumentationConfig } from '@opentelemetry/instrumentation-http';
import type { EnterableContextManager } from './context-manager.js';
import { isInternalServer, setRequestRoute, setRequestSpanContext } from './http-request-state.js';
import { LEAN_ROOT_CONTEXT } from './lean-context.js';
import { OTHER, methodLabel, type RouteLabeler } from './route.js';

const REQUEST_START = 'http.server.request.start';
const RESPONSE_FINISH = 'http.server.response.finish';

const SPAN = Symbol('meskit.http.serverSpan');

interface ServerRequestMessage {
  readonly request: IncomingMessage;
  readonly response: ServerResponse;
  readonly server?: unknown;
}

type WithSpan = ServerResponse & { [SPAN]?: Span | undefined };

export interface HttpServerSpansOptions {
  readonly tracer: Tracer;
  readonly contextManager: EnterableContextManager;
  readonly routeLabel: RouteLabeler;
  /** The user's `instrumentations.http` configuration; its server-side hooks are honoured. */
  readonly config: HttpInstrumentationConfig;
  /**
   * The sampler decides without the start attributes (samplerIgnoresAttributes): they are
   * then computed only for a span that records. Default: false.
   */
  readonly sampleBeforeAttributes?: boolean;
}

/** Starts server spans for every http/https server request; returns the unsubscriber. */
export function startHttpServerSpans(options: HttpServerSpansOptions): () => void {
  const { tracer, contextManager, routeLabel, config } = options;
  const ignore = config.ignoreIncomingRequestHook;
  const startHook = config.startIncomingSpanHook;
  const requestHook = config.requestHook;
  const responseHook = config.responseHook;
  const applyCustom = config.applyCustomAttributesOnSpan;
  // Attributes after the sampling decision, when the sampler does not read them and no hook
  // adds to them at start.
  const lateAttributes = options.sampleBeforeAttributes === true && startHook === undefined;
  // The user's hooks see every span, recording or not, as upstream's do.
  const hooksOnEnd =
    requestHook !== undefined || responseHook !== undefined || applyCustom !== undefined;

  const onStart = (message: unknown): void => {
    const { request, response, server } = message as ServerRequestMessage;
    if (isInternalServer(server)) return;
    // A throw inside a diagnostics channel subscriber is rethrown on the next tick and would
    // crash the host: nothing here may throw, the user's hooks included.
    try {
      if (ignore !== undefined && ignore(request)) return;
      const method = request.method ?? 'GET';
      let attributes: Attributes | undefined;
      if (!lateAttributes) {
        attributes = requestAttributes(request, method);
        if (startHook !== undefined) Object.assign(attributes, startHook(request));
      }
      // Parent from the traceparent header only, never from whatever context happens to be
      // active in the parser's callback.
      const parent = propagation.extract(LEAN_ROOT_CONTEXT, request.headers);
      const span = tracer.startSpan(
        methodLabel(method) === OTHER ? 'HTTP' : method,
        { kind: SpanKind.SERVER, attributes },
        parent,
      );
      // Not sampled, its trace still goes on: the handler's spans, logs and messages carry it.
      contextManager.enter(trace.setSpan(parent, span));
      if (!span.isRecording() && !hooksOnEnd) return; // nothing to end; the histogram labels the route
      if (lateAttributes && span.isRecording())
        span.setAttributes(requestAttributes(request, method));
      setRequestSpanContext(request, span.spanContext());
      (response as WithSpan)[SPAN] = span;
      response.on('close', onResponseClose);
      requestHook?.(span, request);
    } catch {
      // Telemetry never breaks a request.
    }
  };

  const end = (span: Span, request: IncomingMessage, response: ServerResponse): void => {
    (response as WithSpan)[SPAN] = undefined;
    try {
      const statusCode = response.statusCode;
      const route = routeLabel(request, statusCode);
      // The HTTP histogram, which finishes after us, reuses it (one normalisation per request).
      setRequestRoute(request, route);
      span.setAttribute('http.response.status_code', statusCode);
      if (route !== OTHER) {
        span.setAttribute('http.route', route);
        span.updateName(
          `${methodLabel(request.method) === OTHER ? 'HTTP' : request.method} ${route}`,
        );
      }
      if (!response.writableFinished) {
        span.setAttribute('error.type', 'aborted');
        span.setStatus({ code: SpanStatusCode.ERROR, message: 'the response was not completed' });
      } else if (statusCode >= 500) {
        span.setAttribute('error.type', String(statusCode));
        span.setStatus({ code: SpanStatusCode.ERROR });
      }
      responseHook?.(span, response);
      applyCustom?.(span, request, response);
    } catch {
      // The span still ends.
    }
    span.end();
  };

  const onFinish = (message: unknown): void => {
    const { request, response } = message as ServerRequestMessage;
    const span = (response as WithSpan)[SPAN];
    if (span !== undefined) end(span, request, response);
  };

  // Only what 'finish' did not end: the client went away before the response was complete.
  function onResponseClose(this: ServerResponse): void {
    const span = (this as WithSpan)[SPAN];
    if (span !== undefined) end(span, this.req, this);
  }

  subscribe(REQUEST_START, onStart);
  subscribe(RESPONSE_FINISH, onFinish);
  return () => {
    unsubscribe(REQUEST_START, onStart);
    unsubscribe(RESPONSE_FINISH, onFinish);
  };
}

/** Stable HTTP semantic conventions (https://opentelemetry.io/docs/specs/semconv/http/http-spans/). */
function requestAttributes(request: IncomingMessage, method: string): Attributes {
  const target = request.url ?? '/';
  const queryAt = target.indexOf('?');
  const socket = request.socket as (IncomingMessage['socket'] & { encrypted?: boolean }) | null;
  const attributes: Attributes = {
    'http.request.method': methodLabel(method) === OTHER ? '_OTHER' : method,
    'url.scheme': socket?.encrypted === true ? 'https' : 'http',
    'url.path': queryAt === -1 ? target : target.slice(0, queryAt),
    'network.protocol.version': request.httpVersion,
  };
  if (queryAt !== -1) attributes['url.query'] = target.slice(queryAt + 1);
  const host = request.headers.host;
  if (host !== undefined) {
    // host[:port]; an IPv6 literal is bracketed.
    const colon = host.lastIndexOf(':');
    if (colon > host.lastIndexOf(']')) {
      attributes['server.address'] = host.slice(0, colon);
      const port = Number(host.slice(colon + 1));
      if (Number.isInteger(port)) attributes['server.port'] = port;
    } else {
      attributes['server.address'] = host;
    }
  }
  const clientAddress = socket?.remoteAddress;
  if (clientAddress !== undefined) attributes['client.address'] = clientAddress;
  const userAgent = request.headers['user-agent'];
  if (userAgent !== undefined) attributes['user_agent.original'] = userAgent;
  return attributes;
}
