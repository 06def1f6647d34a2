// The index store in memory: the same protocol as the scripts, in one process. Every method
// runs synchronously to its end, which is the atomicity the Lua scripts get from Redis.
import {
  dataTtlMs,
  maxPending,
  type AddOutcome,
  type IndexStore,
  type RemoveOutcome,
  type StoreLimits,
} from './store.js';

interface Entry {
  member: string;
  score: number;
  doc: string;
}

interface StatusState {
  /** Bumped by every write: with `filled` it versions rendered pages (Redis: the `gen` nonce). */
  gen: number;
  epoch: number;
  reset: number;
  /** Newest first, like the MES lists them. */
  entries: Entry[];
  /** True once a fill wrote `entries`/`total` (until the data expire). */
  hasData: boolean;
  total: number;
  dataExpiresAt: number;
  /** The fill's epoch while the index may be served. */
  filled: number | undefined;
  filledExpiresAt: number;
  fillEpoch: number;
  /** Write-through adds a fill may not cover, with the epoch when each ran (scripts.ts). */
  added: Map<string, { epoch: number; score: number; doc: string }>;
  addedExpiresAt: number;
  /** member -> tombstone; insertion order is expiry order (one TTL), so sweeping stops early. */
  tombs: Map<string, { epoch: number; expiresAt: number }>;
}

/** Newest first: a larger score, or an equal score and a larger id. */
function before(
  a: { score: number; member: string },
  b: { score: number; member: string },
): boolean {
  return a.score > b.score || (a.score === b.score && a.member > b.member);
}

/** Index at which `item` sits or would be inserted in newest-first `entries`. */
function position(entries: readonly Entry[], item: { score: number; member: string }): number {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (before(entries[mid]!, item)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function indexOf(entries: readonly Entry[], member: string, score: number | undefined): number {
  if (score !== undefined) {
    const at = position(entries, { score, member });
    if (entries[at]?.member === member) return at;
  }
  return entries.findIndex((e) => e.member === member);
}

export function memoryStore(opts: { limits: StoreLimits; now: () => number }): IndexStore {
  const { limits, now } = opts;
  const dataTtl = dataTtlMs(limits);
  const states = new Map<string, StatusState>();
  /** member -> score, so a removal finds an entry by binary search. */
  const scores = new Map<string, Map<string, number>>();

  function state(status: string): StatusState {
    let s = states.get(status);
    if (!s) {
      s = {
        gen: 0,
        epoch: 0,
        reset: 0,
        entries: [],
        hasData: false,
        total: 0,
        dataExpiresAt: 0,
        filled: undefined,
        filledExpiresAt: 0,
        fillEpoch: 0,
        added: new Map(),
        addedExpiresAt: 0,
        tombs: new Map(),
      };
      states.set(status, s);
      scores.set(status, new Map());
    }
    const t = now();
    if (s.filled !== undefined && s.filledExpiresAt <= t) s.filled = undefined;
    if (s.hasData && s.dataExpiresAt <= t) {
      s.entries = [];
      scores.get(status)!.clear();
      s.hasData = false;
      s.total = 0;
      s.fillEpoch = 0;
      s.added.clear();
    }
    if (s.added.size > 0 && s.addedExpiresAt <= t) s.added.clear();
    for (const [member, tomb] of s.tombs) {
      if (tomb.expiresAt > t) break;
      s.tombs.delete(member);
    }
    return s;
  }

  function tombOf(s: StatusState, member: string): number | undefined {
    const tomb = s.tombs.get(member);
    return tomb && tomb.expiresAt > now() ? tomb.epoch : undefined;
  }

  function insert(status: string, s: StatusState, item: Entry): void {
    s.entries.splice(position(s.entries, item), 0, item);
    scores.get(status)!.set(item.member, item.score);
  }

  function trim(status: string, s: StatusState): void {
    while (s.entries.length > limits.maxDepth) {
      const dropped = s.entries.pop()!;
      scores.get(status)!.delete(dropped.member);
      s.added.delete(dropped.member);
    }
  }

  function aboveLowest(s: StatusState, item: { score: number; member: string }): boolean {
    const low = s.entries[s.entries.length - 1];
    return low !== undefined && before(item, low);
  }

  function markStale(s: StatusState): RemoveOutcome & AddOutcome {
    s.gen += 1;
    s.epoch += 1;
    s.filled = undefined;
    s.reset = s.epoch;
    return 'stale';
  }

  const store: IndexStore = {
    kind: 'memory',
    incarnation: 0,
    ticket(status) {
      const s = state(status);
      s.epoch += 1;
      return Promise.resolve(s.epoch);
    },
    page(status, offset, count, pageOpts) {
      const s = state(status);
      const expired = s.filled === undefined;
      if (expired && !(pageOpts?.expired && s.hasData)) {
        return Promise.resolve({ kind: s.hasData && s.entries.length > 0 ? 'stale' : 'miss' });
      }
      const size = s.entries.length;
      if (offset + count > size && size < s.total) {
        return Promise.resolve({ kind: offset + count <= limits.fillDepth ? 'stale' : 'deep' });
      }
      const docs = s.entries.slice(offset, offset + count).map((e) => e.doc);
      return Promise.resolve({
        kind: 'hit',
        total: s.total,
        docs,
        version: expired ? undefined : `${s.gen}:${s.filled}`,
      });
    },
    version(status) {
      const s = state(status);
      return Promise.resolve(s.filled === undefined ? undefined : `${s.gen}:${s.filled}`);
    },
    fill(status, e0, items, snapshotTotal) {
      const s = state(status);
      if (s.reset > e0) return Promise.resolve('reset');
      if (s.fillEpoch > e0) return Promise.resolve('superseded');
      s.gen += 1;
      const pending: Entry[] = [];
      for (const [member, p] of s.added) {
        if (p.epoch >= e0) pending.push({ member, score: p.score, doc: p.doc });
        else s.added.delete(member);
      }
      s.entries = [];
      scores.get(status)!.clear();
      let total = snapshotTotal;
      const inSnapshot = new Set<string>();
      for (const item of items) {
        inSnapshot.add(item.member);
        const tomb = tombOf(s, item.member);
        if (tomb !== undefined && tomb > e0) total -= 1;
        else insert(status, s, { member: item.member, score: item.score, doc: item.doc });
      }
      const low = items[items.length - 1];
      const complete = items.length >= snapshotTotal;
      let unknowable = false;
      for (const p of pending) {
        if (inSnapshot.has(p.member)) continue;
        if (complete || low === undefined || before(p, low)) {
          insert(status, s, p);
          total += 1;
        } else {
          unknowable = true;
        }
      }
      trim(status, s);
      s.total = total;
      s.hasData = true;
      s.dataExpiresAt = now() + dataTtl;
      s.fillEpoch = e0;
      if (unknowable) {
        s.filled = undefined;
        return Promise.resolve('incomplete');
      }
      s.filled = e0;
      s.filledExpiresAt = now() + limits.ttlMs;
      return Promise.resolve('written');
    },
    remove(status, member, hint) {
      const s = state(status);
      s.gen += 1;
      s.epoch += 1;
      const had = tombOf(s, member) !== undefined;
      s.tombs.delete(member);
      s.tombs.set(member, { epoch: s.epoch, expiresAt: now() + limits.tombstoneTtlMs });
      s.added.delete(member);
      const at = indexOf(s.entries, member, scores.get(status)!.get(member));
      if (at >= 0) {
        s.entries.splice(at, 1);
        scores.get(status)!.delete(member);
        if (s.hasData) s.total -= 1;
        return Promise.resolve('removed');
      }
      if (had) return Promise.resolve('repeated');
      if (!hint.known || s.filled === undefined) return Promise.resolve('absent');
      if (s.entries.length >= s.total) return Promise.resolve('absent');
      if (hint.score !== undefined && aboveLowest(s, { score: hint.score, member })) {
        return Promise.resolve('absent');
      }
      return Promise.resolve(markStale(s));
    },
    add(status, item, ticket) {
      const s = state(status);
      const tomb = tombOf(s, item.member);
      if (tomb !== undefined && tomb > ticket) return Promise.resolve('tombstoned');
      s.gen += 1;
      const at = indexOf(s.entries, item.member, scores.get(status)!.get(item.member));
      if (at >= 0) {
        s.entries[at]!.doc = item.doc;
        return Promise.resolve('present');
      }
      if (s.filled === undefined) {
        if (s.added.size >= maxPending(limits)) return Promise.resolve(markStale(s));
        s.added.set(item.member, { epoch: s.epoch, score: item.score, doc: item.doc });
        s.addedExpiresAt = now() + dataTtl;
        return Promise.resolve('pending');
      }
      // A fill newer than the ticket may have read the MES before this add's read answered.
      if (s.entries.length >= s.total || aboveLowest(s, item)) {
        if (s.added.size >= maxPending(limits)) return Promise.resolve(markStale(s));
        s.added.set(item.member, { epoch: s.epoch, score: item.score, doc: item.doc });
        s.addedExpiresAt = now() + dataTtl;
        insert(status, s, { ...item });
        s.total += 1;
        trim(status, s);
        return Promise.resolve('added');
      }
      return Promise.resolve(markStale(s));
    },
    reset(statuses) {
      for (const status of statuses) markStale(state(status));
      return Promise.resolve();
    },
    size(status) {
      return Promise.resolve(state(status).entries.length);
    },
    close() {
      states.clear();
      scores.clear();
      return Promise.resolve();
    },
  };
  return store;
}
