import { readFileSync } from 'node:fs';
// Checks for what @meskit/otel-bootstrap sends to and serves: the OTLP/HTTP collector its
// spans go to, and the /metrics endpoint of an instrumented service.
import { describeError, oneLine } from '../describe-error.js';
import { withTls } from '../tls-facts.js';
import type { CheckOutcome, DoctorCheck } from '../types.js';
import { envValue, hostPort, httpUrl, parseHeaderList, probe } from './http-probe.js';

// What otel-bootstrap's exporter sends, minus the spans: an empty export must be accepted by
// any OTLP/HTTP receiver, and it leaves nothing behind in the backend.
const EMPTY_EXPORT = '{"resourceSpans":[]}';
const MAX_BODY_IN_MESSAGE = 120;

/** `otel.collector`: the OTLP/HTTP traces endpoint accepts an (empty) JSON export. */
export const otelCollectorCheck: DoctorCheck = {
  id: 'otel.collector',
  title: 'OpenTelemetry collector (OTLP/HTTP)',
  async run(ctx) {
    const env = ctx.config.env;
    const specific = envValue(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
    const general = envValue(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
    if (specific === undefined && general === undefined) {
      return { status: 'skip', message: 'not configured: set OTEL_EXPORTER_OTLP_ENDPOINT' };
    }
    const variable =
      specific !== undefined ? 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT' : 'OTEL_EXPORTER_OTLP_ENDPOINT';
    // The same rule as the exporter: the traces endpoint as given, the general one + /v1/traces.
    const url = httpUrl(specific ?? `${(general ?? '').replace(/\/+$/, '')}/v1/traces`);
    if (!url) {
      return {
        status: 'fail',
        message: `${variable} is not an http(s) URL; set it to the collector's OTLP/HTTP address, e.g. http://collector:4318`,
      };
    }
    const endpoint = `${hostPort(url)}${url.pathname}`;
    const headers = {
      ...parseHeaderList(env['OTEL_EXPORTER_OTLP_HEADERS']),
      ...parseHeaderList(env['OTEL_EXPORTER_OTLP_TRACES_HEADERS']),
      'content-type': 'application/json',
    };
    ctx.step(`waiting for POST ${endpoint}`);
    let response;
    try {
      const ca = readCa(env);
      response = await probe(url, {
        method: 'POST',
        headers,
        body: EMPTY_EXPORT,
        signal: ctx.signal,
        ...(ca !== undefined ? { ca } : {}),
      });
    } catch (err) {
      throw new Error(`cannot reach the OTLP endpoint ${endpoint}: ${describeError(err)}`, {
        cause: err,
      });
    }
    const details = { endpoint, statusCode: response.statusCode };
    if (response.statusCode >= 200 && response.statusCode < 300) {
      return withTls(
        {
          status: 'pass',
          message: `OTLP/HTTP endpoint ${endpoint} accepted an empty trace export (${response.statusText})`,
          details,
        },
        response.tls,
      );
    }
    return {
      status: 'fail',
      message: collectorFailure(endpoint, response.statusCode, response.statusText),
      details,
    };
  },
};

/**
 * The PEM of OTEL_EXPORTER_OTLP_(TRACES_)CERTIFICATE, as the exporter reads it; a file that
 * cannot be read is an error naming it (the exporter would export without it and fail).
 */
function readCa(env: Readonly<Record<string, string | undefined>>): string | undefined {
  const variable =
    envValue(env, 'OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE') !== undefined
      ? 'OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE'
      : 'OTEL_EXPORTER_OTLP_CERTIFICATE';
  const file = envValue(env, variable);
  if (file === undefined) return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`${variable}=${file} cannot be read: ${describeError(err)}`, { cause: err });
  }
}

function collectorFailure(endpoint: string, statusCode: number, statusText: string): string {
  const prefix = `POST ${endpoint} answered ${statusText}, expected 2xx`;
  switch (statusCode) {
    case 401:
    case 403:
      return `${prefix}: the backend wants credentials; set them in OTEL_EXPORTER_OTLP_HEADERS (e.g. authorization=Bearer%20<token>)`;
    case 404:
      return `${prefix}: no OTLP traces receiver there; point OTEL_EXPORTER_OTLP_ENDPOINT at the collector's OTLP/HTTP port (usually 4318; 4317 is gRPC)`;
    case 415:
      return `${prefix}: the receiver does not take OTLP/JSON, which @meskit/otel-bootstrap sends; enable JSON on its OTLP/HTTP receiver`;
    default:
      return prefix;
  }
}

/** `otel.metrics`: an instrumented service serves /metrics in the Prometheus text format. */
export const otelMetricsCheck: DoctorCheck = {
  id: 'otel.metrics',
  title: 'Service /metrics endpoint',
  async run(ctx) {
    const raw = envValue(ctx.config.env, 'MESKIT_METRICS_URL');
    if (raw === undefined) {
      return {
        status: 'skip',
        message:
          'not configured: set MESKIT_METRICS_URL to the /metrics address of a service started with @meskit/otel-bootstrap (e.g. http://mes:9464)',
      };
    }
    const url = httpUrl(raw);
    if (!url)
      return {
        status: 'fail',
        message: 'MESKIT_METRICS_URL is not an http(s) URL, e.g. http://mes:9464/metrics',
      };
    // A base address gets the path otel-bootstrap serves; a full URL is used as given.
    if (!url.pathname.replace(/\/+$/, '').endsWith('/metrics')) {
      url.pathname = `${url.pathname.replace(/\/+$/, '')}/metrics`;
    }
    url.username = '';
    url.password = '';
    const endpoint = `${hostPort(url)}${url.pathname}`;
    ctx.step(`waiting for GET ${endpoint}`);
    let response;
    try {
      response = await probe(url, {
        method: 'GET',
        headers: { accept: 'text/plain;version=0.0.4;q=1,*/*;q=0.1' },
        signal: ctx.signal,
        // Whole expositions, to find the families; a service with many metrics serves MiBs.
        maxBodyBytes: 4 * 1024 * 1024,
      });
    } catch (err) {
      throw new Error(`cannot reach ${endpoint}: ${describeError(err)}`, { cause: err });
    }
    if (response.statusCode < 200 || response.statusCode >= 300) {
      return {
        status: 'fail',
        message: `GET ${endpoint} answered ${response.statusText}, expected 2xx`,
        details: { endpoint, statusCode: response.statusCode },
      };
    }
    return metricsOutcome(endpoint, response.contentType, response.body);
  },
};

function metricsOutcome(endpoint: string, contentType: string, body: string): CheckOutcome {
  const families = new Set<string>();
  for (const match of body.matchAll(/^# TYPE (\S+) \S+$/gm)) if (match[1]) families.add(match[1]);
  const textFormat = /^(text\/plain|application\/openmetrics-text)/i.test(contentType);
  if (!textFormat || families.size === 0) {
    return {
      status: 'fail',
      message: `GET ${endpoint} answered, but not with the Prometheus text format (content-type "${oneLine(contentType) || 'none'}", starts "${oneLine(body).slice(0, MAX_BODY_IN_MESSAGE)}")`,
      details: { endpoint, contentType },
    };
  }
  const hasHttpHistogram = families.has('meskit_http_server_request_duration_seconds');
  return {
    status: 'pass',
    message: `GET ${endpoint} serves ${families.size} metric families${
      hasHttpHistogram ? ', including meskit_http_server_request_duration_seconds' : ''
    }`,
    details: { endpoint, contentType, families: families.size, hasHttpHistogram },
  };
}
