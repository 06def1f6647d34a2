import { request as httpRequest, STATUS_CODES, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { redactUrl } from '../../internal/redact.js';
import { urlCheck } from '../../internal/check-helpers.js';
import { describeError, oneLine } from '../describe-error.js';
import type { DoctorCheck } from '../types.js';

// Enough of an error body to say why the MES is unhealthy, not enough to flood a terminal.
const MAX_BODY_BYTES = 2_048;
const MAX_BODY_CHARS_IN_DETAILS = 300;

/** `mes`: GET <mes-url>/health must answer 2xx. Redirects are not followed. */
export const mesCheck: DoctorCheck = urlCheck({
  id: 'mes',
  title: 'MES health endpoint',
  setting: 'mesUrl',
  async run(ctx, base) {
    const url = healthUrl(base);
    const shown = redactUrl(url.href);
    let response: { statusCode: number; body: string };
    ctx.step(`waiting for GET ${shown}`);
    try {
      response = await get(url, ctx.signal);
    } catch (err) {
      throw new Error(`GET ${shown} failed: ${describeError(err)}`, { cause: err });
    }
    const { statusCode, body } = response;
    const statusText = `${statusCode} ${STATUS_CODES[statusCode] ?? ''}`.trim();
    if (statusCode >= 200 && statusCode < 300) {
      return {
        status: 'pass',
        message: `GET ${shown} answered ${statusText}`,
        details: { url: shown, statusCode },
      };
    }
    const hint =
      statusCode >= 300 && statusCode < 400
        ? ' (redirects are not followed: point --mes-url at the final address)'
        : '';
    return {
      status: 'fail',
      message: `GET ${shown} answered ${statusText}, expected 2xx${hint}`,
      details: { url: shown, statusCode, body: oneLine(body).slice(0, MAX_BODY_CHARS_IN_DETAILS) },
    };
  },
});

/** `<base>/health`, keeping any path prefix the MES is mounted under. */
function healthUrl(base: string): URL {
  const url = new URL(base);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/health`;
  url.search = '';
  url.hash = '';
  return url;
}

function get(url: URL, signal: AbortSignal): Promise<{ statusCode: number; body: string }> {
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    // No keep-alive agent: a pooled socket would keep the process alive after the report.
    const req = request(url, {
      method: 'GET',
      agent: false,
      signal,
      headers: { accept: 'application/json, text/plain;q=0.9, */*;q=0.1', connection: 'close' },
    });
    req.once('error', reject);
    req.once('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const finish = () => {
        res.destroy();
        resolve({ statusCode: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
      };
      res.on('data', (chunk: Buffer) => {
        if (size >= MAX_BODY_BYTES) return;
        chunks.push(chunk.subarray(0, MAX_BODY_BYTES - size));
        size += chunk.length;
        if (size >= MAX_BODY_BYTES) finish();
      });
      res.once('end', finish);
      res.once('error', reject);
    });
    req.end();
  });
}
