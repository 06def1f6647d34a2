// Handlers of one ordering key run one after another, in delivery order; different keys (and
// messages without a key) run side by side up to the prefetch. Bounded without a limit of its
// own: only deliveries the channel holds unacked (at most `prefetch`) are ever waiting here.

const noop = (): void => undefined;

export class KeyedSerializer {
  /** The last task queued per key; removed once it settles and nothing was queued behind it. */
  readonly #tails = new Map<string, Promise<void>>();

  /** Runs `task` once every task queued before it under `key` has settled. */
  run<R>(key: string, task: () => Promise<R>): Promise<R> {
    const previous = this.#tails.get(key);
    const result = previous === undefined ? task() : previous.then(task);
    const tail = result.then(noop, noop);
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }

  /** Keys with a task running or waiting. */
  get size(): number {
    return this.#tails.size;
  }
}
