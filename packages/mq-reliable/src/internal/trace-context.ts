// Trace context through RabbitMQ (W3C traceparent/tracestate in the message headers), with
// @opentelemetry/api only: the process that runs an SDK (otel-bootstrap) registers the
// propagator; without one, nothing is injected and nothing costs more than a no-op call.
import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Context,
  type TextMapGetter,
} from '@opentelemetry/api';
import { describeError } from '@meskit/kernel';

const getter: TextMapGetter<Record<string, unknown>> = {
  keys: (carrier) => Object.keys(carrier),
  get(carrier, key) {
    const value = carrier[key];
    if (typeof value === 'string') return value;
    if (Buffer.isBuffer(value)) return value.toString('utf8');
    return undefined;
  },
};

/** The context a message's headers carry (its producer's span), or the root context. */
export function contextOf(headers: Record<string, unknown> | undefined): Context {
  return headers ? propagation.extract(ROOT_CONTEXT, headers, getter) : ROOT_CONTEXT;
}

/**
 * `headers` with the trace context of `ctx` added, unless they carry one already (a message
 * relayed from the outbox keeps the trace of the request that wrote it).
 */
export function withTraceContext(
  headers: Record<string, unknown>,
  ctx: Context = context.active(),
): Record<string, unknown> {
  if (typeof headers['traceparent'] === 'string') return headers;
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return Object.keys(carrier).length === 0 ? headers : { ...headers, ...carrier };
}

const tracer = trace.getTracer('@meskit/mq-reliable');

/**
 * Runs a consumer's handler in the trace of the message. When amqplib's instrumentation already
 * opened a consumer span (it is active), the handler runs in it; otherwise a `process <queue>`
 * span of our own, child of the producer's.
 */
export async function inConsumerSpan<T>(
  queue: string,
  headers: Record<string, unknown> | undefined,
  attributes: Record<string, string | number>,
  work: () => Promise<T>,
): Promise<T> {
  if (trace.getActiveSpan()) return work();
  const parent = contextOf(headers);
  const span = tracer.startSpan(
    `process ${queue}`,
    {
      kind: SpanKind.CONSUMER,
      attributes: {
        'messaging.system': 'rabbitmq',
        'messaging.operation.type': 'process',
        'messaging.destination.name': queue,
        ...attributes,
      },
    },
    parent,
  );
  try {
    return await context.with(trace.setSpan(parent, span), work);
  } catch (error) {
    span.recordException(error instanceof Error ? error : new Error(String(error)));
    span.setStatus({ code: SpanStatusCode.ERROR, message: describeError(error) });
    throw error;
  } finally {
    span.end();
  }
}
