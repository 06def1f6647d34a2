// Warn-once with codes. A library inside a host process never throws at runtime for a problem
// it can survive: it says so once with `process.emitWarning` (a stable code the host can
// filter on) and counts the rest in a metric.

/** The `type` of meskit's warnings unless a package names its own. */
export const WARNING_TYPE = 'MeskitWarning';

/** Emits a warning now: for conditions that end and can recur (an outage). Never throws. */
export function emitWarning(code: string, message: string, type: string = WARNING_TYPE): void {
  try {
    process.emitWarning(message, { type, code });
  } catch {
    // A host that replaced emitWarning with something that throws must still not crash.
  }
}

/** Emits a warning unless the same `code` (and `key`) was emitted before in its scope. */
export type WarnOnce = (code: string, message: string, key?: string) => void;

export interface WarnOnceOptions {
  /** The warnings' `type`. Default: `'MeskitWarning'`. */
  type?: string;
  /**
   * A `Symbol.for` key to share what was said across the process (two copies of a package
   * must not say the same thing twice). Default: none, each `createWarnOnce()` remembers
   * for itself (one proxy instance warns once, another instance warns again).
   */
  processKey?: symbol;
}

export function createWarnOnce(opts: WarnOnceOptions = {}): WarnOnce {
  const type = opts.type ?? WARNING_TYPE;
  let seen: Set<string>;
  if (opts.processKey === undefined) seen = new Set();
  else {
    const holder = globalThis as { [key: symbol]: Set<string> | undefined };
    seen = holder[opts.processKey] ??= new Set<string>();
  }
  return (code, message, key = '') => {
    const id = `${code}\u0000${key}`;
    if (seen.has(id)) return;
    seen.add(id);
    emitWarning(code, message, type);
  };
}
