// The otel benchmark's pieces: how each variant starts the MES, the two requests, and the
// orders the take consumes (reset with SQL before each run).
import type pg from 'pg';
import type { OrderStatus } from '@meskit/reference-mes';
import type { FixedRateRequest } from '../lib/fixed-rate.js';

/** The telemetry variants of the fixed-rate runs, in their first round's order. */
export const VARIANTS = [
  'bare',
  'bootstrap',
  'bootstrap-ratio',
  'bootstrap-untraced',
  'upstream',
] as const;
export type Variant = (typeof VARIANTS)[number];

/** Whether the variant exports spans (the others must show none, and need no settling). */
export function traced(variant: Variant): boolean {
  return variant !== 'bare' && variant !== 'bootstrap-untraced';
}

/** get-one-order: one indexed query. take: a transaction and an AMQP publish. */
export const REQUEST_KINDS = ['get-one-order', 'take'] as const;
export type RequestKind = (typeof REQUEST_KINDS)[number];

export const GET_PATH = '/api/orders/5000';
/** Orders seeded; get-one-order reads one below TAKE_FIRST_ID, the take uses the rest. */
export const SEEDED_ORDERS = 60_000;
export const TAKE_FIRST_ID = 10_001;
export const TAKE_ORDERS = SEEDED_ORDERS - TAKE_FIRST_ID + 1;
/** The status the take moves an order from (the MES contract's TAKE.from). */
const TAKEABLE: OrderStatus = 'MANUFACTURING_APPROVED';

/**
 * OTEL_BSP_SCHEDULE_DELAY of every traced variant: how long the batch processors hold spans
 * before an export (`--scheduleDelayMs`). Default: the SDK's own, 5,000, what a production
 * service runs with. A shorter delay makes an export's fixed cost recur more often than it
 * does in production (docs/benchmarks.md "otel").
 */
let scheduleDelayMs = 5_000;

/** Sets the schedule delay for the run (before any variant starts). */
export function useScheduleDelay(ms: number): void {
  scheduleDelayMs = ms;
}

const OURS = ['--import', '@meskit/otel-bootstrap/register'];
/** Upstream's documented zero-code start (no ESM hook needed: see docs/decisions/0009). */
const UPSTREAM = ['--import', '@opentelemetry/auto-instrumentations-node/register'];

/**
 * The exporter settings every traced variant shares: OTLP/HTTP to the receiver, every trace
 * sampled, the batch processor sized so it keeps up rather than dropping (dropping would make
 * telemetry look cheaper than it is).
 */
export function telemetryEnv(endpoint: string): Record<string, string> {
  return {
    OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
    OTEL_TRACES_SAMPLER: 'always_on',
    OTEL_BSP_SCHEDULE_DELAY: String(scheduleDelayMs),
    OTEL_BSP_MAX_QUEUE_SIZE: '65536',
    OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '2048',
    OTEL_SERVICE_NAME: 'bench',
    MESKIT_METRICS_PORT: '0',
  };
}

/** What a variant adds to the bare MES's command line and environment. */
export function variantLaunch(
  variant: Variant,
  endpoint: string,
): { env: Record<string, string>; execArgv: string[] } {
  switch (variant) {
    case 'bare':
      return { env: {}, execArgv: [] };
    case 'bootstrap':
      return { env: telemetryEnv(endpoint), execArgv: OURS };
    case 'bootstrap-ratio':
      return {
        env: {
          ...telemetryEnv(endpoint),
          OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
          OTEL_TRACES_SAMPLER_ARG: '0.1',
        },
        execArgv: OURS,
      };
    // Everything but tracing: the HTTP histogram and its route labels, `/metrics`, Node's
    // default metrics, the bootstrap's own logger. No SDK, no loader hook, no instrumentation.
    // The floor under the traced variants: what the other signals cost the same requests.
    case 'bootstrap-untraced':
      return { env: { ...telemetryEnv(endpoint), OTEL_TRACES_EXPORTER: 'none' }, execArgv: OURS };
    case 'upstream':
      return {
        env: {
          ...telemetryEnv(endpoint),
          OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http,pg,amqplib,pino',
          OTEL_TRACES_EXPORTER: 'otlp',
          // The test receiver refuses protobuf (415).
          OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
          OTEL_METRICS_EXPORTER: 'none',
          OTEL_LOGS_EXPORTER: 'none',
          // Its default runs every detector, the cloud ones included, which ask metadata
          // endpoints off the machine; these three are NodeSDK's defaults (the bootstrap's).
          OTEL_NODE_RESOURCE_DETECTORS: 'env,host,process',
        },
        execArgv: UPSTREAM,
      };
  }
}

/** Request i of a run: the same order read each time, or a different order taken each time. */
export function requestFor(kind: RequestKind, operatorId: number): (i: number) => FixedRateRequest {
  if (kind === 'get-one-order') return () => ({ method: 'GET', path: GET_PATH });
  const body = JSON.stringify({ operatorId });
  return (i) => {
    if (i >= TAKE_ORDERS)
      throw new Error(
        `the take needs more than the ${TAKE_ORDERS} orders set aside: lower the rate`,
      );
    return { method: 'POST', path: `/api/orders/${TAKE_FIRST_ID + i}/take`, body };
  };
}

/**
 * The take's orders back to MANUFACTURING_APPROVED with no operator (only those a run moved),
 * then VACUUM, so dead rows from the last run neither slow the next one nor wake autovacuum
 * during it.
 */
export async function resetTakeOrders(db: pg.Client): Promise<void> {
  await db.query(
    `UPDATE orders SET status = $1, operator_id = NULL, updated_at = now()
      WHERE id BETWEEN $2 AND $3 AND (status <> $1 OR operator_id IS NOT NULL)`,
    [TAKEABLE, TAKE_FIRST_ID, SEEDED_ORDERS],
  );
  await db.query('VACUUM orders, order_status_history');
}

/**
 * A wrk script taking orders firstId, firstId + 1, ... in turn (one Lua state per wrk thread:
 * run it with one thread, or ids repeat).
 */
export function takeScript(operatorId: number, firstId: number): string {
  if (firstId < TAKE_FIRST_ID || firstId > SEEDED_ORDERS)
    throw new RangeError(`order ${firstId} is not one of the take's`);
  return [
    `local id = ${firstId - 1}`,
    `local body = '${JSON.stringify({ operatorId })}'`,
    'local headers = { ["Content-Type"] = "application/json" }',
    'request = function()',
    '  id = id + 1',
    '  return wrk.format("POST", "/api/orders/" .. id .. "/take", headers, body)',
    'end',
    '',
  ].join('\n');
}

/**
 * Resolves once the receiver got no span for longer than an export interval
 * (OTEL_BSP_SCHEDULE_DELAY) and a second: every span ended before the call has then arrived.
 */
export async function settle(receiver: { readonly spanCount: number }): Promise<void> {
  const quietMs = scheduleDelayMs + 1_000;
  let last = receiver.spanCount;
  let since = performance.now();
  while (performance.now() - since < quietMs) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    if (receiver.spanCount !== last) {
      last = receiver.spanCount;
      since = performance.now();
    }
  }
}
