import { MeskitError } from '@meskit/kernel';

/**
 * Stable codes of `PublishError`. A publish never hangs and never fails silently: it resolves
 * once the broker confirmed the message, or rejects with one of these.
 * - `UNROUTABLE`: the broker returned the message (`mandatory`): no queue is bound for its
 *   routing key. Declare the queue or the binding, or publish with `mandatory: false`.
 * - `NACKED`: the broker refused the message (an internal error, a quorum queue without a
 *   leader, a queue over its length limit with `reject-publish`) every time it was sent
 *   again (after 100 ms, doubling up to 2 s) until its deadline. The message was not stored.
 * - `NO_EXCHANGE`: the exchange does not exist. Declare it in `topology.exchanges`.
 * - `TIMEOUT`: no confirm within the publish's `timeoutMs` (disconnected all along, or the
 *   broker is blocked). The message may still be delivered: its `message-id` makes that
 *   safe for a consumer with an inbox.
 * - `BUFFER_FULL`: `buffer.maxMessages` or `buffer.maxBytes` are taken by unconfirmed
 *   messages and `buffer.overflow` is `'reject'` (or waiting for room outlasted the timeout).
 * - `CLOSED`: the publisher was closed before the message was confirmed.
 */
export type PublishErrorCode =
  'UNROUTABLE' | 'NACKED' | 'NO_EXCHANGE' | 'TIMEOUT' | 'BUFFER_FULL' | 'CLOSED';

/** A publish that did not end confirmed; `messageId` names the message it was about. */
export class PublishError extends MeskitError<PublishErrorCode> {
  readonly messageId: string;

  constructor(
    code: PublishErrorCode,
    messageId: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
    this.messageId = messageId;
  }
}
