// The pricing queue's wire format, shared by the worker and the client. A request is the
// model's bytes as the body, `correlationId` and `replyTo` set, the alloy in a header. A reply
// is JSON: `{ ok: true, quote }` or `{ ok: false, error: { code, message } }`.
import type { PricingQuote } from '../runner.js';

export const QUEUE_DEFAULTS = {
  /** The requests' queue (quorum, declared by the workers). */
  queue: 'meskit.pricing.requests',
  /** A client's wait for its reply. */
  timeoutMs: 60_000,
  /** Requests a worker takes at once (unacked). */
  prefetch: 2,
} as const;

export const ALLOY_HEADER = 'x-meskit-alloy';

/** What a quote looks like after JSON: the analysis and price as computed, `cached` kept. */
export type QueuedQuote = Omit<PricingQuote, never>;

export type PricingReply =
  { ok: true; quote: QueuedQuote } | { ok: false; error: { code: string; message: string } };
