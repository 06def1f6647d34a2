// The index store's interface. The indexes live in Redis (redis-store.ts: shared by every proxy
// instance, each operation one Lua script) or in memory (memory-store.ts: one process, the same
// semantics in plain synchronous code). Both implement the epoch/tombstone protocol described
// in scripts.ts and docs/cache-proxy-consistency.md.
import { randomBytes } from 'node:crypto';

/** One order as the index keeps it. */
export interface IndexItem {
  /** The order id zero-padded to 20 digits: equal scores then sort like the MES's `id DESC`. */
  member: string;
  /** createdAt in epoch milliseconds. */
  score: number;
  /** The order's JSON exactly as the MES answered it. */
  doc: string;
}

export type PageResult =
  | {
      kind: 'hit';
      total: number;
      docs: string[];
      /** What `version()` answers while this page stays as it is; undefined: do not keep it. */
      version: string | undefined;
    }
  /** Never filled, or gone entirely. */
  | { kind: 'miss' }
  /** Expired, dropped, or shallower than a fill would make it: fill again. */
  | { kind: 'stale' }
  /** Deeper than the index covers: forward. */
  | { kind: 'deep' };

export type FillOutcome = 'written' | 'incomplete' | 'superseded' | 'reset';
export type RemoveOutcome = 'removed' | 'repeated' | 'absent' | 'stale';
export type AddOutcome = 'added' | 'present' | 'pending' | 'tombstoned' | 'stale';

export interface RemoveHint {
  /** The order is known to have been in the status (the take's from-status, an event's previousStatus). */
  known: boolean;
  /** Its createdAt in ms, when known. */
  score?: number;
}

export interface IndexStore {
  readonly kind: 'memory' | 'redis';
  /**
   * Changes whenever the connection to the store was re-established. A Redis that restarted
   * empty counts its epochs from zero again, so a ticket taken before cannot be compared with
   * its tombstones: fills and adds whose ticket predates a reconnect do not write.
   */
  readonly incarnation: number;
  /** A fresh epoch of the status: taken before any read of the MES whose result is applied. */
  ticket(status: string): Promise<number>;
  /**
   * `expired`: also from an index whose `filled` flag expired (stale-if-error), as long as
   * its data last; such a page has no `version` (it is not kept).
   */
  page(
    status: string,
    offset: number,
    count: number,
    opts?: { expired?: boolean },
  ): Promise<PageResult>;
  /**
   * A token that changes whenever anything a page of `status` shows may have changed (every
   * write, every fill, expiry); undefined when the index cannot be served. One round trip.
   */
  version(status: string): Promise<string | undefined>;
  fill(
    status: string,
    e0: number,
    items: readonly IndexItem[],
    total: number,
  ): Promise<FillOutcome>;
  remove(status: string, member: string, hint: RemoveHint): Promise<RemoveOutcome>;
  add(status: string, item: IndexItem, ticket: number): Promise<AddOutcome>;
  /** Drops the index of each status; fills in flight will not write theirs. */
  reset(statuses: readonly string[]): Promise<void>;
  /** Orders in the index of `status` (0 when none). */
  size(status: string): Promise<number>;
  close(): Promise<void>;
}

export interface StoreLimits {
  ttlMs: number;
  tombstoneTtlMs: number;
  staleIfErrorMs: number;
  fillDepth: number;
  maxDepth: number;
}

/** Write-through adds remembered for fills in flight, per status; past it the index is dropped. */
export function maxPending(limits: StoreLimits): number {
  return limits.maxDepth * 4;
}

/**
 * Index data outlive the `filled` flag, so a page cut while it is set always finds its
 * documents, and an expired index can answer for `staleIfErrorMs` more (stale-if-error).
 */
export function dataTtlMs(limits: StoreLimits): number {
  return limits.ttlMs + Math.max(limits.ttlMs, limits.staleIfErrorMs) + 1000;
}

/** The `gen` value a writing script sets (scripts.ts): random, so it never repeats. */
export function nonce(): string {
  return randomBytes(8).toString('base64url');
}

export function memberOf(id: number): string {
  return String(id).padStart(20, '0');
}
