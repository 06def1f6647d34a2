// W3C trace context across RabbitMQ, on the real broker: a message published inside a span
// is consumed in a span of the same trace (instrumentation-amqplib carries `traceparent` in
// the message headers; the ESM app imports amqplib, hooked by the loader).
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SPAN_KIND, startOtlpReceiver, type OtlpReceiver } from './peers/index.js';
import { spawnApp, uniqueName } from './helpers.js';

interface Done extends Record<string, unknown> {
  publisherTraceId: string;
  consumerTraceId: string | null;
  traceparent: string | null;
}

describe('AMQP publish -> consume', () => {
  const services = inject('services');
  let otlp: OtlpReceiver;

  beforeAll(async () => {
    otlp = await startOtlpReceiver();
  });

  afterAll(async () => {
    await otlp?.close();
  });

  it("continues the publisher's trace in the consumer, through the message headers", async () => {
    const app = spawnApp({
      flag: '--import',
      app: 'amqp.mjs',
      env: {
        AMQP_URL: services.AMQP_URL ?? '',
        FIXTURE_EXCHANGE: uniqueName('otel-bootstrap.events'),
        FIXTURE_QUEUE: uniqueName('otel-bootstrap.consumer'),
        OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
        MESKIT_METRICS_PORT: 'off',
      },
    });
    const done = await app.waitForEvent<Done>('done');
    // The app ends on its own; telemetry flushes when the event loop empties.
    expect(await app.exited).toEqual({ code: 0, signal: null });
    expect(app.stderr()).toBe('');

    const { publisherTraceId } = done;
    expect(done.consumerTraceId).toBe(publisherTraceId);
    expect(done.traceparent).toMatch(new RegExp(`^00-${publisherTraceId}-[0-9a-f]{16}-01$`));

    const trace = otlp.spans.filter((s) => s.traceId === publisherTraceId);
    const root = trace.find((s) => s.name === 'take order');
    const publish = trace.find((s) => s.kind === SPAN_KIND.PRODUCER);
    const consume = trace.find((s) => s.kind === SPAN_KIND.CONSUMER);
    expect(root).toBeDefined();
    expect(publish).toBeDefined();
    expect(consume).toBeDefined();
    expect(publish?.parentSpanId).toBe(root?.spanId);
    // The consumer span is a child of the publish span, or (useLinksForConsume) linked to it.
    const linked = consume?.links.some(
      (l) => l.traceId === publisherTraceId && l.spanId === publish?.spanId,
    );
    expect(consume?.parentSpanId === publish?.spanId || linked).toBe(true);
  });
});
