// Flushing on the way out without changing how the host exits (pino's rule: observe exit,
// never decide it).
//
// - SIGTERM/SIGINT, and the host listens too: the host owns the exit (it drains, then exits
//   when it wants). We only start flushing at once, so the spans of the work done so far are
//   on the wire while the host drains. We do not exit and do not shut down: the drain still
//   produces spans.
// - SIGTERM/SIGINT, and nobody else listens: Node's default is to die of the signal. We flush
//   (bounded by shutdownTimeoutMs), then re-raise the signal with our listener removed, so
//   the process still dies of it: the parent sees the same signal (shells report 143/130).
//   A second signal while flushing re-raises at once.
// - The event loop empties (beforeExit): the host is done; shut down, which delivers what
//   is buffered. No 'exit' handler: nothing asynchronous can run there.

export interface ExitHooks {
  /** Delivers what is buffered, keeps running. Never rejects. */
  flush(): Promise<void>;
  /** Delivers what is buffered and stops. Never rejects; bounded by its own timeout. */
  shutdown(): Promise<void>;
}

const SIGNALS = ['SIGTERM', 'SIGINT'] as const;
type HandledSignal = (typeof SIGNALS)[number];

/** Installs the handlers; returns a function that removes them. */
export function installExitHandlers(hooks: ExitHooks): () => void {
  let shuttingDown = false;
  const listeners = new Map<HandledSignal, () => void>();

  const reRaise = (signal: HandledSignal): void => {
    removeAll();
    // One turn of the loop first: process.emitWarning prints on the next tick, and a warning
    // about the flush (a timeout) must reach stderr before the process dies.
    setImmediate(() => process.kill(process.pid, signal));
  };

  for (const signal of SIGNALS) {
    const listener = (): void => {
      if (process.listenerCount(signal) > 1) {
        // The host handles this signal: flush in the background and let it decide.
        void hooks.flush();
        return;
      }
      if (shuttingDown) {
        reRaise(signal);
        return;
      }
      shuttingDown = true;
      void hooks.shutdown().finally(() => reRaise(signal));
    };
    listeners.set(signal, listener);
    process.on(signal, listener);
  }

  const onBeforeExit = (): void => {
    process.removeListener('beforeExit', onBeforeExit);
    void hooks.shutdown();
  };
  process.on('beforeExit', onBeforeExit);

  function removeAll(): void {
    for (const [signal, listener] of listeners) process.removeListener(signal, listener);
    listeners.clear();
    process.removeListener('beforeExit', onBeforeExit);
  }
  return removeAll;
}
