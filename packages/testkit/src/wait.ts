// Waiting for a condition instead of sleeping a guessed time, and a clock a test moves by hand.

export interface WaitOptions {
  /** Fail after this long. Default: 20 s. */
  timeoutMs?: number;
  /** Between two checks. Default: 25 ms. */
  intervalMs?: number;
  /** What the state was at the timeout, added to the error (the stats a failure needs). */
  hint?: () => string | Promise<string>;
}

/**
 * Resolves once `condition` holds (checked at once, then every `intervalMs`); rejects naming
 * `what` after `timeoutMs`. For state that has no event to await (an event a server consumed,
 * a key that expires in Redis).
 */
export async function waitFor(
  what: string,
  condition: () => Promise<boolean> | boolean,
  opts: WaitOptions = {},
): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const intervalMs = opts.intervalMs ?? 25;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() >= deadline) {
      const hint = opts.hint ? await Promise.resolve(opts.hint()).catch(String) : undefined;
      throw new Error(
        `timed out after ${timeoutMs} ms waiting until ${what}${hint ? `; ${hint}` : ''}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** A clock that stands still until the test advances it, for code that takes `now()`. */
export interface ManualClock {
  now(): number;
  advance(ms: number): void;
}

export function manualClock(start = Date.now()): ManualClock {
  let t = start;
  return {
    now: () => t,
    advance(ms) {
      t += ms;
    },
  };
}
