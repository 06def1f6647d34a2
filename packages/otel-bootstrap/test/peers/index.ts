// Test peers of @meskit/otel-bootstrap, for any package's tests:
// `import { startOtlpReceiver, startLokiReceiver } from '@meskit/otel-bootstrap/testing'`.
// All bind 127.0.0.1 on a free port; close() them in afterAll.
export { SPAN_KIND, startOtlpReceiver } from './otlp-receiver.js';
export type {
  AttributeValue,
  OtlpReceiver,
  OtlpReceiverOptions,
  ReceivedExport,
  ReceivedLink,
  ReceivedSpan,
} from './otlp-receiver.js';
export { startLokiReceiver } from './loki-receiver.js';
export type { LokiReceiver, ReceivedLine, ReceivedPush } from './loki-receiver.js';
export { startVictoriaLogsReceiver } from './victorialogs-receiver.js';
export type { VictoriaLogsReceiver } from './victorialogs-receiver.js';
export { decodeSpans as decodeZipkinSpans, startZipkinReceiver } from './zipkin-receiver.js';
export type { ZipkinReceiver, ZipkinSpan } from './zipkin-receiver.js';
export type { PeerTls } from './http-peer.js';
