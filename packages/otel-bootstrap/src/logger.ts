// `@meskit/otel-bootstrap/logger`: the root logger without loading the OpenTelemetry SDK,
// for meskit libraries that log (the same logger getLogger() of the main entry returns).
export { rootLogger as getLogger } from './internal/logger.js';
