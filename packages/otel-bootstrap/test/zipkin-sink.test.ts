// The Zipkin sink's own bookkeeping: spans Zipkin accepts are counted exported, and a Zipkin
// that accepts the connection but never answers times out as a failed export (upstream's
// exporter sets no limit), so its spans are counted dropped and do not hold the queue.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { Registry } from 'prom-client';
import { waitFor } from '@meskit/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { selfMetrics } from '../src/internal/metrics.js';
import type { SpanRecord } from '../src/internal/otlp-json.js';
import { ZipkinSink } from '../src/internal/zipkin-sink.js';
import { startZipkinReceiver } from './peers/index.js';

const RECORD: SpanRecord = {
  traceId: '0af7651916cd43dd8448eb211c80319c',
  spanId: 'b7ad6b7169203331',
  parentSpanId: undefined,
  traceState: undefined,
  name: 'GET /orders/:id',
  kind: 1,
  start: 1_700_000_000_000.5,
  end: 1_700_000_000_001,
  attributes: { 'http.route': '/orders/:id' },
  droppedAttributesCount: 0,
  events: [],
  droppedEventsCount: 0,
  links: [],
  droppedLinksCount: 0,
  statusCode: 0,
  statusMessage: undefined,
  scopeName: 'scope',
  scopeVersion: '1.0.0',
};

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function sinkTo(url: string, exportTimeoutMs: number) {
  const registry = new Registry();
  const metrics = selfMetrics(registry);
  const sink = new ZipkinSink({
    url,
    maxQueueSize: 10,
    maxExportBatchSize: 10,
    scheduledDelayMs: 10,
    exportTimeoutMs,
    metrics,
    resource: () => resourceFromAttributes({ 'service.name': 'mes' }),
  });
  const count = async (name: string, labels = '') => {
    const text = await registry.metrics();
    const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
    return line ? Number(line.split(' ').at(-1)) : 0;
  };
  return { sink, count };
}

describe('ZipkinSink', () => {
  it('counts the spans Zipkin accepted as exported', async () => {
    const zipkin = await startZipkinReceiver();
    cleanups.push(() => zipkin.close());
    const { sink, count } = sinkTo(zipkin.spansUrl, 5_000);
    sink.append(RECORD);
    await sink.forceFlush();
    expect(zipkin.spans.map((s) => s.id)).toEqual([RECORD.spanId]);
    expect(await count('meskit_otel_spans_exported_total')).toBe(1);
  });

  it('times out a Zipkin that never answers: the spans are dropped, counted, and the queue freed', async () => {
    // Takes the request and never responds.
    const silent: Server = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    cleanups.push(async () => {
      silent.closeAllConnections();
      await new Promise((resolve) => silent.close(resolve));
    });
    const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/api/v2/spans`;
    const { sink, count } = sinkTo(url, 200);
    for (let i = 0; i < 10; i++) sink.append(RECORD);
    await waitFor(
      'the silent export to count as failed',
      async () =>
        (await count('meskit_otel_spans_dropped_total', '{reason="export_failed"}')) === 10,
      { timeoutMs: 10_000 },
    );
    // The queue (10) has room again: a new span is queued, not dropped as queue_full.
    sink.append(RECORD);
    expect(await count('meskit_otel_spans_dropped_total', '{reason="queue_full"}')).toBe(0);
  });
});
