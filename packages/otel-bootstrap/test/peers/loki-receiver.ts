// A Loki push receiver for tests (no Loki can be installed here). It takes the JSON push
// API (POST /loki/api/v1/push, what pino-loki sends) and answers GET /ready like Loki.
// Snappy-compressed protobuf pushes (Promtail, Alloy) are refused with 415 and a message.
import {
  decodeJsonPush,
  PushRefused,
  startPushReceiver,
  type PushProtocol,
  type PushReceiver,
} from './push-receiver.js';

export type { ReceivedLine, ReceivedPush } from './push-receiver.js';

export interface LokiReceiver extends PushReceiver {
  /** Base URL, for MESKIT_LOKI_URL (`http://127.0.0.1:<port>`). */
  readonly url: string;
  /** `<url>/loki/api/v1/push`. */
  readonly pushUrl: string;
}

const LOKI: PushProtocol = {
  pushPath: '/loki/api/v1/push',
  readyPath: '/ready',
  checkRequest(request) {
    const contentType = (request.headers['content-type'] ?? '').toLowerCase();
    if (!contentType.startsWith('application/json')) {
      throw new PushRefused(
        415,
        `this test receiver accepts the JSON push API only (Content-Type: application/json), got "${contentType || 'none'}"; snappy-compressed protobuf is not supported`,
      );
    }
  },
  decode(body) {
    try {
      return decodeJsonPush(body, false);
    } catch (err) {
      throw new PushRefused(
        400,
        `not a Loki push request: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  },
};

/** Starts a receiver on 127.0.0.1 and a free port. */
export function startLokiReceiver(): Promise<LokiReceiver> {
  return startPushReceiver(LOKI);
}
