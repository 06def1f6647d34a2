// How a meskit library records its metrics: into the one registry of the process, which
// @meskit/otel-bootstrap serves at /metrics. The `/registry` entry loads prom-client only,
// never the OpenTelemetry SDK. Run: node examples/library-metrics.mjs
import { Counter } from 'prom-client';
import { getRegistry } from '@meskit/otel-bootstrap/registry';

const ordersTaken = new Counter({
  name: 'meskit_example_orders_taken_total',
  help: 'Orders taken by an operator.',
  labelNames: ['workshop'],
  registers: [getRegistry()],
});

ordersTaken.inc({ workshop: 'casting' });
process.stdout.write(
  await getRegistry().getSingleMetricAsString('meskit_example_orders_taken_total'),
);
process.stdout.write('\n');
