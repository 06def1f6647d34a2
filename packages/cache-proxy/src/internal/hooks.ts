/**
 * Internal test hooks, not part of the public API: an option under this key lets a test stop a
 * fill between its read of the MES and its write to the store, or a write-through between its
 * ticket and its read, to force a race deterministically, or move the memory store's clock by hand.
 */
export const TEST_HOOKS: unique symbol = Symbol('meskit.cache-proxy.testHooks');

export interface TestHooks {
  /** Awaited after a fill has read the MES and before it writes the store. */
  afterFillRead?: (status: string) => Promise<void>;
  /** Awaited after a write-through took its ticket and before it asks the MES for the order. */
  beforeWriteThroughRead?: (status: string, orderId: number) => Promise<void>;
  /** How long a write-through waits for the MES, whatever its source. Default: 30 s / ~3 s. */
  writeThroughBudgetMs?: number;
  /** The memory store's clock. Default: `Date.now`. */
  now?: () => number;
}
