// Telemetry started in code instead of with --import, when options are needed. Run:
//   OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 node examples/start-in-code.mjs
//   curl localhost:3000/orders/42 && curl localhost:9464/metrics | grep meskit_http
// (For ESM applications, prefer `node --import @meskit/otel-bootstrap/register`: libraries
// loaded with `import` are only traced through its loader hook.)
import { createServer } from 'node:http';
import { getLogger, startTelemetry } from '@meskit/otel-bootstrap';

const telemetry = startTelemetry({
  serviceName: 'mes-example',
  // Known routes by name; anything else falls back to the built-in normaliser.
  normalizeRoute: (path) => (path.startsWith('/legacy/') ? '/legacy/*' : undefined),
  // This application has its own SIGTERM handler below and shuts telemetry down itself.
  handleSignals: false,
});
const log = getLogger();

const server = createServer((req, res) => {
  log.info({ url: req.url }, 'request');
  res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
});
server.listen(3000, async () => {
  log.info({ metrics: await telemetry.metricsUrl() }, 'listening on :3000');
});

process.on('SIGTERM', () => {
  server.close(async () => {
    // Flush spans and log lines before exiting: process.exit() would cut them off.
    await telemetry.shutdown();
    process.exit(0);
  });
});
