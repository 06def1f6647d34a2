// What the tracing hooks and the HTTP histogram leave on a server request for each other.
// Symbol properties rather than a WeakMap: one hidden-class transition per request, the same
// for every request, is cheaper on the hot path than a WeakMap insert and lookup.
import type { SpanContext } from '@opentelemetry/api';
import type { IncomingMessage, Server } from 'node:http';

const START = Symbol('meskit.http.start');
const SPAN_CONTEXT = Symbol('meskit.http.spanContext');
const ROUTE = Symbol('meskit.http.route');
// Marks servers of this package (the /metrics server), whose requests are neither traced
// nor counted: scrapes are not the application's traffic. Symbol.for, so a second copy of
// the package recognises the first one's server.
const INTERNAL_SERVER = Symbol.for('meskit.otel-bootstrap.internalServer');

interface RequestState {
  [START]?: number;
  [SPAN_CONTEXT]?: SpanContext;
  [ROUTE]?: string;
}

export function setRequestStart(request: IncomingMessage, startMs: number): void {
  (request as RequestState)[START] = startMs;
}

export function requestStart(request: IncomingMessage): number | undefined {
  return (request as RequestState)[START];
}

export function setRequestSpanContext(request: IncomingMessage, spanContext: SpanContext): void {
  (request as RequestState)[SPAN_CONTEXT] = spanContext;
}

export function requestSpanContext(request: IncomingMessage): SpanContext | undefined {
  return (request as RequestState)[SPAN_CONTEXT];
}

export function setRequestRoute(request: IncomingMessage, route: string): void {
  (request as RequestState)[ROUTE] = route;
}

export function requestRoute(request: IncomingMessage): string | undefined {
  return (request as RequestState)[ROUTE];
}

export function markInternalServer(server: Server): void {
  (server as { [INTERNAL_SERVER]?: true })[INTERNAL_SERVER] = true;
}

export function isInternalServer(server: unknown): boolean {
  return (
    typeof server === 'object' &&
    server !== null &&
    (server as { [INTERNAL_SERVER]?: true })[INTERNAL_SERVER] === true
  );
}

/** The server a request arrived on (net.Socket#server is set for accepted connections). */
export function serverOf(request: IncomingMessage): unknown {
  return (request.socket as { server?: unknown } | null)?.server;
}
