// Requests the index does not answer: forwarded to the MES unchanged, marked in Cache-Status.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { forward, type Upstream } from './forward.js';
import type { Recorder } from './recorder.js';

/** The Cache-Status cache name (RFC 9211). */
export const CACHE = 'meskit';

/**
 * Forwards the request. `detail` says why a list read was not answered from the index;
 * `counted` is false for requests that were never list reads of a cached status.
 */
export type PassThrough = (
  req: IncomingMessage,
  res: ServerResponse,
  detail?: string,
  counted?: boolean,
) => Promise<void>;

export function createPassThrough(upstream: Upstream, recorder: Recorder): PassThrough {
  return (req, res, detail, counted = true) => {
    if (counted) recorder.request('bypass');
    recorder.forwarded();
    const entry = detail ? `${CACHE}; fwd=bypass; detail=${detail}` : `${CACHE}; fwd=bypass`;
    return forward(upstream, req, res, { cacheStatus: entry });
  };
}
