import { DOCTOR_SETTINGS } from '../doctor/config.js';
import type { CheckContext, CheckOutcome, DoctorCheck, DoctorConfig } from '../doctor/types.js';

/** The `skip` outcome for a dependency nobody configured, naming the flag and env var. */
export function notConfigured(setting: keyof typeof DOCTOR_SETTINGS): CheckOutcome {
  const { flag, env } = DOCTOR_SETTINGS[setting];
  return { status: 'skip', message: `not configured: pass ${flag} or set ${env}` };
}

/**
 * `host:port` of a URL for messages: never the whole URL, which may hold a password.
 * A URL without a host (PostgreSQL over a Unix socket via `?host=`) says so.
 */
export function endpointOf(url: string, defaultPort: number): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'an unparsable URL';
  }
  const socketHost = parsed.searchParams.get('host');
  if (!parsed.hostname) return socketHost ? `socket ${socketHost}` : 'the default local socket';
  return `${parsed.hostname}:${parsed.port || defaultPort}`;
}

/**
 * Runs `cleanup` once when `signal` aborts (at once if it already has). Returns a function
 * that detaches the listener, to call when the work finished normally.
 */
export function onAbort(signal: AbortSignal, cleanup: () => void): () => void {
  if (signal.aborted) {
    cleanup();
    return () => {};
  }
  signal.addEventListener('abort', cleanup, { once: true });
  return () => signal.removeEventListener('abort', cleanup);
}

/** Resolves after `ms`, or early (without rejecting) when `signal` aborts. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    const detach = onAbort(signal, done);
    function done(): void {
      clearTimeout(timer);
      detach();
      resolve();
    }
  });
}

const BYTE_UNITS = ['KiB', 'MiB', 'GiB', 'TiB'] as const;

/** 1536 -> "1.5 KiB"; below 1 KiB exact bytes. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  let value = bytes;
  let unit: string = 'B';
  for (const next of BYTE_UNITS) {
    if (value < 1024) break;
    value /= 1024;
    unit = next;
  }
  return `${value.toFixed(1)} ${unit}`;
}

/** 3.25 -> "3.3 s", 0.0004 -> "0.0 s": one decimal is what a lag reading deserves. */
export function formatSeconds(seconds: number): string {
  return `${seconds.toFixed(1)} s`;
}

/**
 * A check of the dependency at one configured URL: `skip`, naming the flag and the variable,
 * when it is not configured; otherwise `run` with the URL.
 */
export function urlCheck(spec: {
  id: string;
  title: string;
  setting: keyof typeof DOCTOR_SETTINGS & keyof DoctorConfig;
  run(ctx: CheckContext, url: string): Promise<CheckOutcome>;
}): DoctorCheck {
  return {
    id: spec.id,
    title: spec.title,
    run(ctx) {
      const url = ctx.config[spec.setting];
      return typeof url === 'string' && url !== ''
        ? spec.run(ctx, url)
        : Promise.resolve(notConfigured(spec.setting));
    },
  };
}
