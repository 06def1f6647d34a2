// The pino transport that ships log lines to Loki. It runs in pino's transport worker thread
// (pino.transport), so batching and HTTP pushes never run on the application's thread, and
// the application's HTTP instrumentation never sees (or traces) the pushes.
import { parentPort } from 'node:worker_threads';
import { pinoLoki } from 'pino-loki';

/** Options handed over from the main thread (structured-clone safe). */
export interface LokiWorkerOptions {
  readonly pushUrl: string;
  readonly basicAuth?: { readonly username: string; readonly password: string };
  readonly headers: Readonly<Record<string, string>>;
  readonly labels: Readonly<Record<string, string>>;
  readonly batchIntervalMs: number;
  readonly maxBufferedLines: number;
  readonly timeoutMs: number;
}

/** What each push did, sent to the main thread as a thread-stream event of this name. */
export const PUSH_EVENT = 'meskitLokiPush';

export interface PushOutcome {
  readonly ok: boolean;
  /** Log lines in the push. */
  readonly lines: number;
  /** HTTP status, when Loki answered. */
  readonly status?: number;
  /** Why it failed, when it did not answer. */
  readonly error?: string;
}

export default function lokiTransport(options: LokiWorkerOptions): ReturnType<typeof pinoLoki> {
  observePushes(options.pushUrl);
  return pinoLoki({
    host: options.pushUrl,
    // pino-loki resolves `endpoint` against `host`; the empty path keeps our full push URL.
    endpoint: '',
    ...(options.basicAuth ? { basicAuth: { ...options.basicAuth } } : {}),
    headers: { ...options.headers },
    // Only service and env from us, and level from pino-loki: every other label value
    // multiplies Loki's streams. (pino-loki also turns a `hostname` field into a label; our
    // lines carry `host` instead.)
    labels: { ...options.labels },
    propsToLabels: [],
    structuredMetaKey: false,
    batching: { interval: options.batchIntervalMs / 1000, maxBufferSize: options.maxBufferedLines },
    timeout: options.timeoutMs,
    // Failures are reported to the main thread (one warning per outage), not printed per push.
    silenceErrors: true,
  });
}

/**
 * pino-loki reports failures only by printing them. Every fetch in this worker is one of its
 * pushes, so wrapping fetch tells the main thread what each push did, whatever pino-loki's
 * version prints.
 */
function observePushes(pushUrl: string): void {
  const realFetch = globalThis.fetch;
  const report = (outcome: PushOutcome): void => {
    parentPort?.postMessage({ code: 'EVENT', name: PUSH_EVENT, args: [outcome] });
  };
  globalThis.fetch = async (
    input: string | URL | Request,
    init?: RequestInit,
  ): Promise<Response> => {
    const body = typeof init?.body === 'string' ? init.body : '';
    // One Loki stream entry per line in pino-loki's pushes; message text is JSON-escaped
    // inside them, so this marker cannot come from a log message.
    const lines = body.split('"values":[[').length - 1;
    const target =
      typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    try {
      const response = await realFetch(input, init);
      if (target === pushUrl) report({ ok: response.ok, lines, status: response.status });
      return response;
    } catch (err) {
      if (target === pushUrl) {
        const cause =
          err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
        report({
          ok: false,
          lines,
          error: `${err instanceof Error ? err.message : String(err)}${cause}`,
        });
      }
      throw err;
    }
  };
}
