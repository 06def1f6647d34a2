import { spawn } from 'node:child_process';
import { ensureInstalled, locate } from '@meskit/services';

/** One wrk run: throughput and latency percentiles as wrk measured them. */
export interface WrkResult {
  requests: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Non-2xx/3xx answers plus socket errors; a run with any is not a valid measurement. */
  errors: number;
}

/** wrk prints "50%  1.23ms"; converts us/ms/s to milliseconds. */
function parseDuration(text: string): number {
  const match = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (!match) return Number.NaN;
  const value = Number(match[1]);
  const ms =
    match[2] === 'us'
      ? value / 1000
      : match[2] === 'ms'
        ? value
        : match[2] === 's'
          ? value * 1000
          : value * 60_000;
  // wrk prints at most 2 decimals of its unit: drop the float noise of the conversion.
  return Math.round(ms * 1000) / 1000;
}

export function parseWrkOutput(output: string): WrkResult {
  const percentile = (p: string) => {
    const match = new RegExp(`^\\s*${p}%\\s+(\\S+)`, 'm').exec(output);
    return match ? parseDuration(match[1]!) : Number.NaN;
  };
  const requests = Number(/(\d+) requests in/.exec(output)?.[1] ?? Number.NaN);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(output)?.[1] ?? Number.NaN);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(
    output,
  );
  const socketErrors = socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0;
  return {
    requests,
    requestsPerSecond: rps,
    p50Ms: percentile('50'),
    p99Ms: percentile('99'),
    errors: non2xx + socketErrors,
  };
}

/** Runs wrk (Debian package, installed when missing) against a loopback URL. */
export async function runWrk(
  url: string,
  opts: {
    seconds: number;
    connections: number;
    threads?: number;
    /** wrk's per-request timeout (counted as a socket error past it). Default: wrk's own, 2 s. */
    timeoutSeconds?: number;
    /** A Lua script (`wrk -s`), e.g. one building each request (see takeScript in otel). */
    script?: string;
  },
): Promise<WrkResult> {
  if (!/^http:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])[:/]/.test(url)) {
    throw new Error(`load tests target loopback only, not ${url}`);
  }
  ensureInstalled(['wrk']);
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(locate('wrk'), [
      '--latency',
      `-t${opts.threads ?? 1}`,
      `-c${opts.connections}`,
      `-d${opts.seconds}s`,
      ...(opts.timeoutSeconds === undefined ? [] : [`--timeout`, `${opts.timeoutSeconds}s`]),
      ...(opts.script === undefined ? [] : ['--script', opts.script]),
      url,
    ]);
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve(text) : reject(new Error(`wrk exited ${String(code)}:\n${text}`)),
    );
  });
  const result = parseWrkOutput(output);
  if (!Number.isFinite(result.requestsPerSecond))
    throw new Error(`could not read wrk's output:\n${output}`);
  return result;
}
