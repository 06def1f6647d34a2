// The pricing sidecar's HTTP API over a PricingRunner (`meskit pricing serve` is a thin wrapper
// around it): quotes from a raw body or a multipart upload, answered synchronously within a
// wait, or as a job to poll; health; and /metrics from the runner's registry.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listen, MeskitError } from '@meskit/kernel';
import type { Registry } from 'prom-client';
import { MeshError, PriceModelError, PricingPoolError } from './errors.js';
import { resolveServerOptions, type ResolvedServerOptions } from './internal/server-options.js';
import type { PricingQuote, PricingRunner } from './runner.js';

export { SERVER_DEFAULTS } from './internal/server-options.js';

/** Options of `createPricingServer`. */
export interface PricingServerOptions {
  /** The runner that prices (not closed by the server's `close()`). Required. */
  runner: PricingRunner<PricingQuote>;
  /** Address to listen on. Default: `'127.0.0.1'`. */
  host?: string;
  /** Port to listen on; 0 picks a free one. Default: 8790. */
  port?: number;
  /** Largest model accepted, raw or as the file of a multipart upload; larger bodies get 413. Default: 128 MiB. */
  maxBodyBytes?: number;
  /**
   * How long `POST /v1/quotes` waits for the price before answering 202 with a job to poll
   * (`?wait=MS` per request, `Prefer: respond-async` for 0). Default: 10 000 ms.
   */
  syncWaitMs?: number;
  /** Jobs kept (pending and finished); past it new asynchronous quotes get 503 `TOO_MANY_JOBS`. Default: 1000. */
  maxJobs?: number;
  /** How long a finished job stays readable at `GET /v1/jobs/:id`. Default: 600 000 ms (10 min). */
  jobTtlMs?: number;
  /** The registry `GET /metrics` serves. Default: the process's shared registry (the kernel's `getRegistry()`). */
  registry?: Registry;
}

export interface PricingServer {
  /** `http://host:port` once listening. */
  readonly url: string;
  /** Stops accepting connections and waits for the requests in progress; safe to call twice. */
  close(): Promise<void>;
}

/**
 * Every route of the pricing server (method and OpenAPI-style path); `route()` dispatches on
 * these entries, so the table is what is served. GET routes answer HEAD too.
 */
export const PRICING_SERVER_ROUTES = Object.freeze({
  quote: Object.freeze({ method: 'POST', path: '/v1/quotes' }),
  job: Object.freeze({ method: 'GET', path: '/v1/jobs/{id}' }),
  healthz: Object.freeze({ method: 'GET', path: '/healthz' }),
  readyz: Object.freeze({ method: 'GET', path: '/readyz' }),
  metrics: Object.freeze({ method: 'GET', path: '/metrics' }),
} as const);

/** `/v1/jobs/` of the job route: the id is the rest of the path. */
const JOBS_PREFIX = PRICING_SERVER_ROUTES.job.path.slice(0, -'{id}'.length);

/** The longest `?wait=` honoured, whatever the request asks. */
const MAX_WAIT_MS = 120_000;

type JobState =
  | { status: 'pending' }
  | { status: 'done'; result: PricingQuote }
  | { status: 'failed'; error: ErrorBody['error']; httpStatus: number };

interface Job {
  readonly id: string;
  readonly created: number;
  state: JobState;
  finished?: number;
}

interface ErrorBody {
  error: { code: string; message: string };
}

/** An answer other than a quote: its status and `{ error: { code, message } }`. */
class HttpError extends MeskitError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(code, message);
  }
}

/**
 * Starts the pricing HTTP API and resolves once it listens. Bad options throw the kernel's
 * `InvalidOptionError` synchronously (not a rejected promise); an address that cannot be bound
 * rejects with its `ListenError` (`LISTEN_FAILED`).
 * - `POST /v1/quotes[?alloy=NAME][&wait=MS]`: the model as the raw body (any content type but
 *   multipart) or as the file of a `multipart/form-data` upload. 200 with
 *   `{ status: "done", analysis, price, cached, key }`; 202 with `{ status: "pending", id }`
 *   and `Location` when the price takes longer than the wait.
 * - `GET /v1/jobs/:id`: `{ id, status: "pending" | "done" | "failed", ... }`.
 * - `GET /healthz` (alive), `GET /readyz` (accepting work: the pool's queue has room),
 *   `GET /metrics` (Prometheus text).
 * Errors answer `{ error: { code, message } }`: a model that cannot be priced 422 with the
 * `MeshError` code (413 `TOO_LARGE`), an unknown alloy 400, a full queue 503 with `Retry-After`.
 */
export function createPricingServer(opts: PricingServerOptions): Promise<PricingServer> {
  const config = resolveServerOptions(opts);
  return start(config);
}

async function start(config: ResolvedServerOptions): Promise<PricingServer> {
  const { runner, registry } = config;
  const jobs = new Map<string, Job>();

  const sweepJobs = (): void => {
    const now = Date.now();
    for (const [id, job] of jobs) {
      if (job.finished !== undefined && now - job.finished > config.jobTtlMs) jobs.delete(id);
    }
  };
  const sweeper = setInterval(sweepJobs, Math.min(config.jobTtlMs, 60_000));
  sweeper.unref();

  async function postQuote(request: IncomingMessage, url: URL, response: ServerResponse) {
    const alloy = url.searchParams.get('alloy') ?? undefined;
    const wait = waitOf(request, url, config.syncWaitMs);
    const model = await readModel(request, config.maxBodyBytes);
    sweepJobs();
    if (jobs.size >= config.maxJobs)
      throw new HttpError(
        503,
        'TOO_MANY_JOBS',
        `${jobs.size} jobs are kept (maxJobs); poll or let finished ones expire, then retry`,
        { 'retry-after': '5' },
      );
    // A client that hangs up before the answer cancels its quote unless it became a job.
    const abort = new AbortController();
    let becameJob = false;
    const onClose = (): void => {
      if (!becameJob && !response.writableFinished) abort.abort(new Error('client went away'));
    };
    response.once('close', onClose);
    const quote = runner.quote(model, { alloy, signal: abort.signal });
    let timer: NodeJS.Timeout | undefined;
    // `Prefer: respond-async` (wait 0) always gets a job, however fast the quote.
    const outcome =
      wait === 0
        ? undefined
        : await Promise.race([
            quote.then(
              (result) => ({ result }),
              (error: unknown) => ({ error }),
            ),
            new Promise<undefined>((resolve) => {
              timer = setTimeout(() => resolve(undefined), wait);
            }),
          ]);
    clearTimeout(timer);
    if (outcome !== undefined) {
      response.off('close', onClose);
      if ('error' in outcome) throw outcome.error;
      return send(response, 200, { status: 'done', ...outcome.result });
    }
    becameJob = true;
    const job: Job = { id: randomUUID(), created: Date.now(), state: { status: 'pending' } };
    jobs.set(job.id, job);
    quote.then(
      (result) => {
        job.state = { status: 'done', result };
        job.finished = Date.now();
      },
      (error: unknown) => {
        const { status, code, message } = toHttpError(error);
        job.state = { status: 'failed', error: { code, message }, httpStatus: status };
        job.finished = Date.now();
      },
    );
    const location = `/v1/jobs/${job.id}`;
    send(response, 202, { status: 'pending', id: job.id, location }, { location });
  }

  function getJob(id: string, response: ServerResponse): void {
    const job = jobs.get(id);
    if (!job)
      throw new HttpError(404, 'NO_SUCH_JOB', `no job ${id}: it never existed or has expired`);
    const { state } = job;
    if (state.status === 'pending') send(response, 200, { id, status: 'pending' });
    else if (state.status === 'done') send(response, 200, { id, status: 'done', ...state.result });
    else send(response, 200, { id, status: 'failed', error: state.error });
  }

  async function route(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://pricing.invalid');
    const path = url.pathname;
    const method = request.method ?? 'GET';
    const only = (allowed: string): void => {
      if (method !== allowed && !(allowed === 'GET' && method === 'HEAD'))
        throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${method} ${path}: use ${allowed}`, {
          allow: allowed === 'GET' ? 'GET, HEAD' : allowed,
        });
    };
    const { quote, job, healthz, readyz, metrics } = PRICING_SERVER_ROUTES;
    if (path === quote.path) {
      only(quote.method);
      return postQuote(request, url, response);
    }
    if (path.startsWith(JOBS_PREFIX)) {
      only(job.method);
      return getJob(decodeURIComponent(path.slice(JOBS_PREFIX.length)), response);
    }
    if (path === healthz.path) {
      only(healthz.method);
      return send(response, 200, { status: 'ok' });
    }
    if (path === readyz.path) {
      only(readyz.method);
      const pool = runner.stats().pool;
      const ready = pool.queued < pool.maxQueue;
      return send(response, ready ? 200 : 503, {
        status: ready ? 'ready' : 'busy',
        queued: pool.queued,
        busy: pool.busy,
        threads: pool.threads,
        jobs: jobs.size,
      });
    }
    if (path === metrics.path) {
      only(metrics.method);
      const text = await registry.metrics();
      response.writeHead(200, { 'content-type': registry.contentType });
      response.end(text);
      return;
    }
    throw new HttpError(404, 'NOT_FOUND', `no route ${method} ${path}; see the pricing README`);
  }

  const inProgress = new Set<Promise<void>>();
  const server = createServer((request, response) => {
    const handled = route(request, response)
      .catch((error: unknown) => {
        if (response.headersSent) {
          response.destroy();
          return;
        }
        const { status, code, message, headers } = toHttpError(error);
        // Whatever is left of the body is not read: close the connection after this answer.
        if (!request.complete) response.setHeader('connection', 'close');
        send(response, status, { error: { code, message } }, headers);
      })
      .finally(() => inProgress.delete(handled));
    inProgress.add(handled);
  });
  let url: string;
  try {
    url = await listen(server, { host: config.host, port: config.port, what: 'pricing server' });
  } catch (error) {
    clearInterval(sweeper);
    throw error;
  }
  let closing: Promise<void> | undefined;
  return {
    url,
    close() {
      closing ??= (async () => {
        clearInterval(sweeper);
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
        });
        await Promise.allSettled(inProgress);
      })();
      return closing;
    },
  };
}

function waitOf(request: IncomingMessage, url: URL, fallback: number): number {
  const prefer = request.headers.prefer;
  if (typeof prefer === 'string' && /(^|[\s,;])respond-async($|[\s,;])/i.test(prefer)) return 0;
  const asked = url.searchParams.get('wait');
  if (asked === null) return fallback;
  const value = Number(asked);
  if (!Number.isInteger(value) || value < 0)
    throw new HttpError(
      400,
      'BAD_WAIT',
      `wait must be a whole number of milliseconds, got ${JSON.stringify(asked)}`,
    );
  return Math.min(value, MAX_WAIT_MS);
}

/** The model's bytes: the body, or the file of a multipart upload. */
async function readModel(request: IncomingMessage, maxBytes: number): Promise<Uint8Array> {
  const type = request.headers['content-type'] ?? '';
  const multipart = /^multipart\/form-data\s*;/i.test(type);
  // Multipart framing adds a few hundred bytes around the file.
  const limit = multipart ? maxBytes + 64 * 1024 : maxBytes;
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(declared, maxBytes);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge(size, maxBytes);
    chunks.push(chunk);
  }
  const body = Buffer.concat(chunks, size);
  if (!multipart) return body;
  let form: FormData;
  try {
    form = await new Response(body, { headers: { 'content-type': type } }).formData();
  } catch (error) {
    throw new HttpError(
      400,
      'BAD_MULTIPART',
      `the multipart/form-data body cannot be read: ${(error as Error).message}`,
    );
  }
  const file = form.get('model') ?? [...form.values()].find((value) => typeof value !== 'string');
  if (file === undefined || file === null || typeof file === 'string')
    throw new HttpError(
      400,
      'NO_FILE',
      'the multipart upload holds no file: send the model as a file field named "model"',
    );
  if (file.size > maxBytes) throw tooLarge(file.size, maxBytes);
  return new Uint8Array(await file.arrayBuffer());
}

function tooLarge(size: number, maxBytes: number): HttpError {
  return new HttpError(
    413,
    'TOO_LARGE',
    `the model is ${size} bytes, over the limit of ${maxBytes} (maxBodyBytes)`,
  );
}

/** The HTTP answer for an error of the runner: 4xx for what the client can change, never a stack. */
function toHttpError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof MeshError)
    return new HttpError(error.code === 'TOO_LARGE' ? 413 : 422, error.code, error.message);
  if (error instanceof PriceModelError) return new HttpError(400, error.code, error.message);
  if (error instanceof PricingPoolError) {
    switch (error.code) {
      case 'QUEUE_FULL':
        return new HttpError(503, error.code, error.message, { 'retry-after': '1' });
      case 'CLOSED':
        return new HttpError(503, error.code, error.message);
      case 'TIMEOUT':
        return new HttpError(
          422,
          error.code,
          `${error.message}: the model is too complex for the configured time limit`,
        );
      case 'OFFLOAD_FAILED':
        return new HttpError(422, error.code, error.message);
      case 'CANCELLED':
        return new HttpError(499, error.code, error.message);
      default:
        return new HttpError(500, error.code, error.message);
    }
  }
  return new HttpError(
    500,
    'INTERNAL',
    `unexpected error: ${error instanceof Error ? error.message : String(error)}`,
  );
}

function send(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (response.destroyed) return;
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  response.end(text);
}
