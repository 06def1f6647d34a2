// Secrets must never reach a terminal, a CI log or a JSON report. Two layers: any
// `scheme://user:password@` in text loses its password, and the literal passwords of the
// URLs we were configured with are masked wherever else they appear (a library may echo
// one in an error message without the URL around it).

const MASK = '***';

// userinfo cannot contain a raw '@', '/' or whitespace, so the password ends at the first '@'.
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:@/]*):([^\s@/]*)@/gi;
const LOOKS_LIKE_URL_WITH_PASSWORD = /^[a-z][a-z0-9+.-]*:\/\/[^\s:@/]*:[^\s@/]+@/i;

// Masking every occurrence of a one- or two-character password would garble every
// message ("RabbitMQ 3.***3.1"); those are still masked inside URLs by URL_PASSWORD.
const MIN_LITERAL_SECRET_LENGTH = 4;

const SECRET_KEY = /pass(word)?|secret|token|authorization|api[-_]?key/i;

/** `postgres://u:pw@h/db` -> `postgres://u:***@h/db`; anything unparsable is masked by pattern. */
export function redactUrl(url: string): string {
  return url.replace(URL_PASSWORD, `$1:${MASK}@`);
}

/** The password of a URL, raw and percent-decoded, for literal masking. */
export function passwordsOf(url: string | undefined): string[] {
  if (!url) return [];
  let password: string;
  try {
    password = new URL(url).password;
  } catch {
    return [];
  }
  if (!password) return [];
  let decoded = password;
  try {
    decoded = decodeURIComponent(password);
  } catch {
    // A malformed escape: the raw form is all there is to mask.
  }
  return [...new Set([password, decoded])];
}

/**
 * Literal secrets to mask: passwords of the given URLs plus those of any env var holding
 * a URL with a password (checks added later may read variables we do not know about).
 */
export function collectSecrets(
  urls: readonly (string | undefined)[],
  env: Readonly<Record<string, string | undefined>>,
): string[] {
  const secrets = new Set<string>();
  const candidates = [...urls];
  for (const value of Object.values(env)) {
    if (value && LOOKS_LIKE_URL_WITH_PASSWORD.test(value)) candidates.push(value);
  }
  for (const url of candidates) for (const secret of passwordsOf(url)) secrets.add(secret);
  // Longest first, so a secret containing a shorter one is masked whole.
  return [...secrets]
    .filter((s) => s.length >= MIN_LITERAL_SECRET_LENGTH)
    .sort((a, b) => b.length - a.length);
}

/** Masks URL passwords and the given literal secrets in a piece of text. */
export function redactText(text: string, secrets: readonly string[] = []): string {
  let out = redactUrl(text);
  for (const secret of secrets) out = out.split(secret).join(MASK);
  return out;
}

/** Redacts every string inside a JSON-like value; values under secret-looking keys are masked whole. */
export function redactDeep(value: unknown, secrets: readonly string[] = []): unknown {
  if (typeof value === 'string') return redactText(value, secrets);
  if (Array.isArray(value)) return value.map((item) => redactDeep(item, secrets));
  if (hasToJson(value)) return redactDeep(value.toJSON(), secrets);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      out[key] =
        typeof item === 'string' && SECRET_KEY.test(key) && item !== ''
          ? MASK
          : redactDeep(item, secrets);
    }
    return out;
  }
  return value;
}

function hasToJson(value: unknown): value is { toJSON(): unknown } {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as { toJSON?: unknown }).toJSON === 'function'
  );
}
