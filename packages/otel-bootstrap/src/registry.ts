// `@meskit/otel-bootstrap/registry`: the process-wide prom-client registry, which now lives in
// the kernel (`@meskit/kernel`). Kept so code written against this subpath keeps working; it
// loads prom-client only, never the OpenTelemetry SDK.
export { getRegistry, METRICS_REGISTRY_KEY } from '@meskit/kernel';
