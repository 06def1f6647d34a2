// Secrets must never reach a log line (STYLE.md). Two layers, because neither alone is enough:
// 1. Values, before serialisation: keys that name a secret are masked at any depth whatever
//    their type (an array of cookies, an object of credentials), and strings lose the
//    credentials inside them. pino's own `redact` cannot do "any depth".
// 2. The finished line: the same string rules plus `"secret-key":"value"` pairs, which catches
//    what layer 1 cannot see (the message text, class instances serialised via toJSON).

export const MASK = '***';

// Key names that hold secrets. Exact names for header-like keys (`cookie` but not
// `cookie_consent`), substrings for the rest (`db_password`, `accessToken`, `client_secret`).
const SECRET_KEY =
  /^(?:authorization|proxy-authorization|cookie|set-cookie|pwd|pass)$|passw(?:or)?d|passphrase|secret|token|api[-_]?key|private[-_]?key|credential/i;

// scheme://user:password@ -> scheme://user:***@. userinfo cannot hold a raw '@', '/', '?' or
// '#', so the password ends at the first '@'.
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:@/?#"'<>]*):([^\s@/?#"'<>]+)@/gi;
// Authorization header values written out as text. The token must look like one (a digit or
// token punctuation), so prose such as "Basic authentication" stays readable.
const AUTH_SCHEME = /\b(Bearer|Basic)\s+(?=[A-Za-z0-9._~+/=-]*[0-9._~+/=-])[A-Za-z0-9._~+/=-]{8,}/g;
// ?token=...&password=... in URLs and form bodies.
const SECRET_QUERY =
  /([?&;](?:[a-z0-9_.-]*(?:token|password|passwd|pwd|secret|api[-_]?key|apikey|signature|sig)))=[^&#\s"'<>]*/gi;
// password=... / token: ... in connection strings (libpq `password=x`) and prose.
const SECRET_ASSIGNMENT =
  /\b(password|passwd|pwd|secret|token|api[-_]?key)(\s*[=:]\s*)(?!\*\*\*)([^\s,;&"'<>]+)/gi;
// Cheap pre-checks, so the common line without anything secret-looking costs one scan.
const MAYBE_SECRET_WORD = /pass|pwd|secret|token|api[-_]?key|sig|auth|cookie|credential/i;
// "key":"value" pairs of a serialised JSON line.
const JSON_STRING_PAIR = /"((?:[^"\\]|\\.){1,100})":"((?:[^"\\]|\\.)*)"/g;

const MAX_DEPTH = 10;

/** Masks credentials inside a piece of text: URL passwords, bearer/basic tokens, secret query parameters. */
export function redactText(text: string): string {
  let out = text;
  if (out.includes('://')) out = out.replace(URL_PASSWORD, `$1:${MASK}@`);
  if (out.includes('Bearer') || out.includes('Basic')) out = out.replace(AUTH_SCHEME, `$1 ${MASK}`);
  if ((out.includes('=') || out.includes(':')) && MAYBE_SECRET_WORD.test(out)) {
    out = out.replace(SECRET_QUERY, `$1=${MASK}`).replace(SECRET_ASSIGNMENT, `$1$2${MASK}`);
  }
  return out;
}

export interface Redactor {
  /** True when values under this key are masked whole. */
  isSecretKey(key: string): boolean;
  /**
   * A copy of `value` with secret keys masked and credentials removed from strings, at any
   * depth; `value` itself when nothing needed masking (copy-on-write, so the common case
   * allocates nothing). Class instances other than Error and URL are left to `line()`.
   */
  value<T>(value: T): T;
  /** The finished log line with credentials and `"secret-key":"value"` pairs masked. */
  line(line: string): string;
}

/** A redactor masking the built-in secret keys plus `extraKeys` (strings match case-insensitively, whole key). */
export function createRedactor(extraKeys: readonly (string | RegExp)[] = []): Redactor {
  const exact = new Set(
    extraKeys.filter((k): k is string => typeof k === 'string').map((k) => k.toLowerCase()),
  );
  const patterns = extraKeys.filter((k): k is RegExp => k instanceof RegExp);
  const isSecretKey = (key: string): boolean =>
    SECRET_KEY.test(key) ||
    (exact.size > 0 && exact.has(key.toLowerCase())) ||
    patterns.some((pattern) => {
      // A /g or /y pattern keeps lastIndex between tests; reset so each key is tested whole.
      pattern.lastIndex = 0;
      return pattern.test(key);
    });

  const walk = (value: unknown, depth: number, seen: Set<object>): unknown => {
    if (typeof value === 'string') return redactText(value);
    if (value === null || typeof value !== 'object') return value;
    // Past the depth limit or in a cycle, leave the value to pino (which prints [Circular])
    // and to the line-level pass.
    if (depth >= MAX_DEPTH || seen.has(value)) return value;
    seen.add(value);
    try {
      if (Array.isArray(value)) {
        let copy: unknown[] | undefined;
        for (let i = 0; i < value.length; i++) {
          const item: unknown = value[i];
          const redacted = walk(item, depth + 1, seen);
          if (redacted !== item) {
            copy ??= value.slice();
            copy[i] = redacted;
          }
        }
        return copy ?? value;
      }
      if (value instanceof Error) return redactError(value, depth, seen);
      if (value instanceof URL) {
        const href = redactText(value.href);
        return href === value.href ? value : href;
      }
      const proto: unknown = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) return value;
      return redactRecord(value as Record<string, unknown>, depth, seen);
    } finally {
      seen.delete(value);
    }
  };

  const redactRecord = (
    record: Record<string, unknown>,
    depth: number,
    seen: Set<object>,
  ): Record<string, unknown> => {
    let copy: Record<string, unknown> | undefined;
    for (const key of Object.keys(record)) {
      const item = record[key];
      const redacted =
        isSecretKey(key) && item !== undefined && item !== null && item !== ''
          ? MASK
          : walk(item, depth + 1, seen);
      if (redacted !== item) {
        copy ??= { ...record };
        copy[key] = redacted;
      }
    }
    return copy ?? record;
  };

  const redactError = (err: Error, depth: number, seen: Set<object>): Error => {
    const message = redactText(err.message);
    const stack = typeof err.stack === 'string' ? redactText(err.stack) : err.stack;
    const cause = 'cause' in err ? walk(err.cause, depth + 1, seen) : undefined;
    // Own enumerable fields: pg errors carry `detail`, `where`, sometimes a connection string.
    const ownFields = { ...err } as Record<string, unknown>;
    const own = redactRecord(ownFields, depth, seen);
    const changed =
      message !== err.message ||
      stack !== err.stack ||
      ('cause' in err && cause !== err.cause) ||
      own !== ownFields;
    if (!changed) return err;
    // Same prototype, so pino's error serializer still sees the class name and `instanceof`.
    const copy = Object.create(Object.getPrototypeOf(err) as object) as Error;
    Object.assign(copy, own);
    Object.defineProperty(copy, 'message', {
      value: message,
      enumerable: false,
      writable: true,
      configurable: true,
    });
    Object.defineProperty(copy, 'stack', {
      value: stack,
      enumerable: false,
      writable: true,
      configurable: true,
    });
    if ('cause' in err) {
      Object.defineProperty(copy, 'cause', {
        value: cause,
        enumerable: false,
        writable: true,
        configurable: true,
      });
    }
    if (Object.prototype.hasOwnProperty.call(err, 'name')) copy.name = err.name;
    return copy;
  };

  return {
    isSecretKey,
    value<T>(value: T): T {
      return walk(value, 0, new Set()) as T;
    },
    line(line: string): string {
      let out = line;
      if (MAYBE_SECRET_WORD.test(out)) {
        out = out.replace(JSON_STRING_PAIR, (pair: string, key: string) =>
          key !== undefined && isSecretKey(key) ? `"${key}":"${MASK}"` : pair,
        );
      }
      return redactText(out);
    },
  };
}
