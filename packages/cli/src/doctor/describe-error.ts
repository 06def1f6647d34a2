// Network errors from Node carry terse messages ("connect ECONNREFUSED 127.0.0.1:5433");
// the user needs the reason in words, and the caller already names the endpoint.
const SYSTEM_ERROR_TEXT: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by the server',
  EPIPE: 'connection closed by the server',
  ETIMEDOUT: 'connection timed out',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'temporary DNS failure',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EADDRNOTAVAIL: 'address not available',
  ECONNABORTED: 'connection aborted',
};

const MAX_MESSAGE_LENGTH = 300;

/** Collapses whitespace so a message fits one line of a table or log. */
export function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > MAX_MESSAGE_LENGTH ? `${flat.slice(0, MAX_MESSAGE_LENGTH - 1)}…` : flat;
}

/**
 * One line saying why something failed, without a stack trace: "connection refused",
 * "password authentication failed for user "mes"". Use it to build a check's message:
 * `cannot connect to X at host:port: ${describeError(err)}`.
 */
export function describeError(err: unknown): string {
  // Node's happy-eyeballs connect (localhost -> ::1 and 127.0.0.1) rejects with an
  // AggregateError whose own message is empty; the first attempt says what went wrong.
  if (err instanceof AggregateError && err.errors.length > 0 && !err.message) {
    return describeError(err.errors[0]);
  }
  if (err !== null && typeof err === 'object') {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && Object.hasOwn(SYSTEM_ERROR_TEXT, code)) {
      return SYSTEM_ERROR_TEXT[code] ?? code;
    }
  }
  if (err instanceof Error) {
    const message = oneLine(err.message);
    if (message) return message;
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? code : err.name;
  }
  const text = oneLine(String(err));
  return text || 'unknown error';
}
