// Answering a request: JSON bodies and HTML pages, and every failure turned into one of them
// (`{ error: { code, message } }` for the API, an error page for the operators' pages).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError, MesError } from '../errors.js';
import { describeError, isUnavailableError } from './db.js';
import type { Logger } from './log.js';
import { errorPage } from './pages-html.js';

/** An answer: JSON (`body`, serialised by send()) or an HTML page (`html`, sent as it is). */
export type Reply = { status: number; headers?: Readonly<Record<string, string>> } & (
  { body: unknown } | { html: string }
);

/** What went wrong with a request, before it is answered as JSON or as a page. */
export interface Failure {
  status: number;
  code: string;
  message: string;
  reason?: string | undefined;
  headers?: Readonly<Record<string, string>> | undefined;
}

export function errorReply(
  logger: Logger,
  err: unknown,
  req: IncomingMessage,
  html: boolean,
): Reply {
  const failure = failureOf(logger, err, req);
  if (html) return errorPage(failure);
  return {
    status: failure.status,
    body: errorBody(failure.code, failure.message, failure.reason),
    ...(failure.headers ? { headers: failure.headers } : {}),
  };
}

function failureOf(logger: Logger, err: unknown, req: IncomingMessage): Failure {
  if (err instanceof ApiError) {
    const { status, code, message, reason, headers } = err;
    return { status, code, message, reason, headers };
  }
  if (err instanceof MesError && err.code === 'INVALID_MODEL') {
    return { status: 400, code: 'INVALID_MODEL', message: err.message };
  }
  if (err instanceof URIError) {
    return { status: 400, code: 'BAD_REQUEST', message: 'the path is not valid percent-encoding' };
  }
  if (isUnavailableError(err)) {
    return {
      status: 503,
      code: 'DATABASE_UNAVAILABLE',
      message: `the database is unavailable: ${describeError(err)}`,
    };
  }
  logger.error(
    {
      event: 'request_failed',
      method: req.method,
      path: req.url?.split('?')[0],
      reason: describeError(err),
    },
    'request failed with an unexpected error',
  );
  return { status: 500, code: 'INTERNAL', message: 'internal error; see the MES log' };
}

function errorBody(
  code: string,
  message: string,
  reason?: string,
): { error: { code: string; message: string; reason?: string } } {
  return { error: { code, message, ...(reason !== undefined ? { reason } : {}) } };
}

export function send(res: ServerResponse, reply: Reply): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const html = 'html' in reply;
  const payload = html ? reply.html : JSON.stringify(reply.body);
  res.writeHead(reply.status, {
    'content-type': html ? 'text/html; charset=utf-8' : 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
    ...reply.headers,
  });
  res.end(payload);
}
