// The one place settings are read from env vars. A malformed variable is runtime
// misconfiguration of the host (STYLE.md): it is never thrown, it becomes a problem the
// caller warns about once (MESKIT_OTEL_INVALID_CONFIG) while the fallback is used.
//
// Why not @opentelemetry/core's getStringFromEnv/getNumberFromEnv/getBooleanFromEnv/
// getStringListFromEnv: they read process.env only (resolveConfig takes the environment as an
// argument, so it can be checked without touching the process), and a malformed value is
// dropped with a diag message nobody sees by default (getBooleanFromEnv even turns it into
// `false`) where the operator must be told which variable is wrong. core's reader is used
// where its semantics are the point: the SDK's own span limits (config/tracing.ts).

export type Env = Readonly<Record<string, string | undefined>>;

/** A problem with an env var: the caller warns with MESKIT_OTEL_INVALID_CONFIG, once per variable. */
export interface ConfigProblem {
  readonly variable: string;
  readonly message: string;
}

// The OTEL_* booleans take true/false (the specification's only values); ours take the usual
// spellings of a switch too.
const STRICT_TRUE = ['true'];
const STRICT_FALSE = ['false'];
const LOOSE_TRUE = ['true', '1', 'yes', 'on'];
const LOOSE_FALSE = ['false', '0', 'no', 'off'];

/** Reads one environment, collecting what is malformed in `problems` instead of throwing. */
export class EnvReader {
  readonly problems: ConfigProblem[] = [];
  readonly #env: Env;

  constructor(env: Env) {
    this.#env = env;
  }

  /** The value, trimmed; undefined when unset or blank (an empty variable is how shells unset things). */
  string(name: string): string | undefined {
    const value = this.#env[name]?.trim();
    return value ? value : undefined;
  }

  /** Records a problem with `variable`; `message` names it and the fallback used. */
  report(variable: string, message: string): void {
    this.problems.push({ variable, message });
  }

  /**
   * A whole number ≥ `min`; `fallback` when unset, and when malformed (with a problem).
   * `unit` names what the number counts in the problem (`milliseconds`).
   */
  integer(name: string, fallback: number, min: number, unit?: string): number {
    const raw = this.string(name);
    if (raw === undefined) return fallback;
    const parsed = Number(raw);
    if (Number.isSafeInteger(parsed) && parsed >= min) return parsed;
    this.report(
      name,
      `${name}="${raw}" is not a whole number${unit === undefined ? '' : ` of ${unit}`} ≥ ${min}; using ${fallback}`,
    );
    return fallback;
  }

  /**
   * true or false, case-insensitive; undefined when unset, and when malformed (with a problem
   * ending in `otherwise`, what happens then). `loose` also takes 1/0, yes/no, on/off.
   */
  boolean(name: string, otherwise: string, loose = false): boolean | undefined {
    const raw = this.string(name);
    if (raw === undefined) return undefined;
    const value = raw.toLowerCase();
    if ((loose ? LOOSE_TRUE : STRICT_TRUE).includes(value)) return true;
    if ((loose ? LOOSE_FALSE : STRICT_FALSE).includes(value)) return false;
    this.report(name, `${name}="${raw}" is neither true nor false; ${otherwise}`);
    return undefined;
  }

  /** One of `allowed`, case-insensitive, in lower case; `fallback` when unset or not one (with a problem). */
  oneOf(name: string, allowed: readonly string[], fallback: string): string {
    const raw = this.string(name);
    if (raw === undefined) return fallback;
    if (allowed.includes(raw.toLowerCase())) return raw.toLowerCase();
    this.report(name, `${name}="${raw}" is not one of ${allowed.join(', ')}; using ${fallback}`);
    return fallback;
  }

  /**
   * `k=v,k2=v2` (the OTEL_* list format, values percent-decoded); undefined when unset.
   * Checked as well as parsed, so a typo is reported instead of turning into a silent 401
   * from the backend: malformed entries are skipped, with a problem.
   */
  keyValues(name: string): Record<string, string> | undefined {
    const raw = this.string(name);
    if (raw === undefined) return undefined;
    if (!isKeyValueList(raw)) {
      this.report(
        name,
        `${name} is not a comma-separated list of key=value pairs; malformed entries are ignored`,
      );
    }
    return parseKeyValueList(raw);
  }
}

/** `k=v,k2=v2` (the OTEL_* list format, values percent-decoded); malformed entries are skipped. */
export function parseKeyValueList(raw: string | undefined): Record<string, string> {
  const result: Record<string, string> = {};
  if (!raw) return result;
  for (const entry of raw.split(',')) {
    const index = entry.indexOf('=');
    if (index <= 0) continue;
    const key = entry.slice(0, index).trim();
    if (!key) continue;
    result[safeDecode(key)] = safeDecode(entry.slice(index + 1).trim());
  }
  return result;
}

function isKeyValueList(raw: string): boolean {
  return raw
    .split(',')
    .filter((entry) => entry.trim() !== '')
    .every((entry) => entry.indexOf('=') > 0 && entry.slice(0, entry.indexOf('=')).trim() !== '');
}

/** decodeURIComponent, or the text as it is when it is not valid percent-encoding. */
export function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
