// The error convention every meskit package follows: a stable `code` that callers switch on
// (the CLI maps codes to exit codes, the sidecars to HTTP answers), the original failure as
// `cause`, and a message that says what to do about it.

/** The base of every error a meskit package throws. `code` never changes meaning once released. */
export class MeskitError<Code extends string = string> extends Error {
  readonly code: Code;

  constructor(code: Code, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    // The subclass's own name (`CacheProxyError`), without each one assigning it.
    this.name = new.target.name;
  }
}

/** What a factory's options were checked against, for {@link InvalidOptionError}. */
export interface InvalidOptionDetails {
  /** The factory or function that refused the option, e.g. `createCacheProxy`. */
  component: string;
  /** The option's path, e.g. `fillDepth` or `cache.ttlMs`. */
  option: string;
  /**
   * What is wrong and what the option accepts, e.g. `must be an integer from 1 to 100, got 0`.
   * It completes "option fillDepth ...".
   */
  problem: string;
  cause?: unknown;
}

/**
 * An option of a meskit factory is invalid: a programmer error, thrown synchronously at
 * construction by every factory (never a rejected promise, never later at runtime). The
 * message names the component, the option and the fix.
 */
export class InvalidOptionError extends MeskitError<'INVALID_OPTION'> {
  readonly component: string;
  readonly option: string;

  constructor(details: InvalidOptionDetails) {
    super('INVALID_OPTION', `${details.component}: option ${details.option} ${details.problem}`, {
      cause: details.cause,
    });
    this.component = details.component;
    this.option = details.option;
  }
}

/** A server could not bind its address (the port is taken, no permission, no such address). */
export class ListenError extends MeskitError<'LISTEN_FAILED'> {
  readonly host: string;
  readonly port: number;

  constructor(host: string, port: number, message: string, options?: { cause?: unknown }) {
    super('LISTEN_FAILED', message, options);
    this.host = host;
    this.port = port;
  }
}

/** One line describing a failure, for warnings and log lines: its code, message and cause. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
    const text = `${err.message}${cause}`.replace(/\s*\n\s*/g, ' ');
    return typeof code === 'string' && !text.includes(code) ? `${code} ${text}` : text;
  }
  return String(err);
}

/** A connection URL safe to print or log: the password replaced by `***`. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<unparseable URL>';
  }
}
