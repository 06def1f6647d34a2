// Where the per-status indexes live: Redis (shared by every proxy instance, each operation one
// Lua script) or memory (one process, the same semantics with plain synchronous code). Both
// implement the epoch/tombstone protocol described in scripts.ts and docs/cache-proxy-consistency.md.
import { randomBytes } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { ADD_LUA, FILL_LUA, PAGE_LUA, REMOVE_LUA, RESET_LUA } from './scripts.js';

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
export type AddOutcome = 'added' | 'present' | 'pending' | 'reflected' | 'tombstoned' | 'stale';

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
function maxPending(limits: StoreLimits): number {
  return limits.maxDepth * 4;
}

/**
 * Index data outlive the `filled` flag, so a page cut while it is set always finds its
 * documents, and an expired index can answer for `staleIfErrorMs` more (stale-if-error).
 */
function dataTtlMs(limits: StoreLimits): number {
  return limits.ttlMs + Math.max(limits.ttlMs, limits.staleIfErrorMs) + 1000;
}

/** The `gen` value a writing script sets (scripts.ts): random, so it never repeats. */
function nonce(): string {
  return randomBytes(8).toString('base64url');
}

export function memberOf(id: number): string {
  return String(id).padStart(20, '0');
}

// ---------------------------------------------------------------------------------------------
// Redis

type ScriptFn = (...args: (string | number)[]) => Promise<unknown>;
interface ScriptedClient {
  meskitCachePage: ScriptFn;
  meskitCacheFill: ScriptFn;
  meskitCacheRemove: ScriptFn;
  meskitCacheAdd: ScriptFn;
  meskitCacheReset: ScriptFn;
}

export type RedisClient = Redis | Cluster;

/** Connection states in which a command would only wait for a reconnect that may not come. */
const DOWN = new Set(['reconnecting', 'close', 'end']);

export function redisStore(opts: {
  client: RedisClient;
  /** The proxy created the client, so it closes it. */
  owned: boolean;
  keyPrefix: string;
  limits: StoreLimits;
  timeoutMs: number;
}): IndexStore {
  const { client, limits } = opts;
  const scripts: Array<[keyof ScriptedClient, string, number]> = [
    ['meskitCachePage', PAGE_LUA, 6],
    ['meskitCacheFill', FILL_LUA, 7],
    ['meskitCacheRemove', REMOVE_LUA, 7],
    ['meskitCacheAdd', ADD_LUA, 7],
    ['meskitCacheReset', RESET_LUA, 7],
  ];
  for (const [name, lua, numberOfKeys] of scripts) {
    const existing = (client as unknown as Record<string, unknown>)[name];
    if (typeof existing !== 'function') client.defineCommand(name, { lua, numberOfKeys });
  }
  const scripted = client as unknown as ScriptedClient;
  const dataTtl = dataTtlMs(limits);
  let incarnation = 0;
  // 'ready' is emitted as the status becomes ready, before any command can go out on the new
  // connection (no offline queue), so a check of `incarnation` before a command is reliable.
  client.on('ready', () => {
    incarnation += 1;
  });

  /** `<prefix>{<status>}:`: one hash tag per status, so a status lives in one Cluster slot. */
  const base = (status: string): string => `${opts.keyPrefix}{${status}}:`;
  const keys = (status: string): string[] => {
    const b = base(status);
    return ['idx', 'total', 'filled', 'fillEpoch', 'reset', 'added', 'epoch'].map((k) => b + k);
  };

  /** The command's answer, or a rejection once `timeoutMs` passes (the command may still land). */
  function bounded<T>(operation: string, command: () => Promise<T>): Promise<T> {
    if (DOWN.has(client.status)) {
      return Promise.reject(new Error(`Redis connection is ${client.status}`));
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`Redis did not answer ${operation} within ${opts.timeoutMs} ms`)),
        opts.timeoutMs,
      );
      timer.unref();
    });
    const run = command();
    run.catch(() => undefined); // settled later than the timeout: nobody listens any more
    return Promise.race([run, timeout]).finally(() => clearTimeout(timer));
  }

  return {
    kind: 'redis',
    get incarnation() {
      return incarnation;
    },
    async ticket(status) {
      return Number(await bounded('INCR', () => client.incr(`${base(status)}epoch`)));
    },
    async page(status, offset, count, pageOpts) {
      const reply = (await bounded('page', () =>
        scripted.meskitCachePage(
          ...keys(status).slice(0, 6),
          base(status),
          offset,
          count,
          limits.fillDepth,
          pageOpts?.expired ? '1' : '0',
        ),
      )) as string[];
      const kind = reply[0];
      if (kind === 'hit')
        return {
          kind,
          total: Number(reply[1]),
          version: reply[2] === '' ? undefined : reply[2],
          docs: reply.slice(3),
        };
      if (kind === 'stale' || kind === 'deep') return { kind };
      return { kind: 'miss' };
    },
    async version(status) {
      const [gen, filled] = await bounded('MGET', () =>
        client.mget(`${base(status)}gen`, `${base(status)}filled`),
      );
      return gen && filled ? `${gen}:${filled}` : undefined;
    },
    async fill(status, e0, items, total) {
      const args: (string | number)[] = [
        ...keys(status),
        base(status),
        e0,
        limits.ttlMs,
        dataTtl,
        limits.maxDepth,
        total,
        items.length,
      ];
      for (const item of items) args.push(item.member, item.score, item.doc);
      args.push(nonce());
      return (await bounded('fill', () => scripted.meskitCacheFill(...args))) as FillOutcome;
    },
    async remove(status, member, hint) {
      return (await bounded('remove', () =>
        scripted.meskitCacheRemove(
          ...keys(status),
          base(status),
          member,
          hint.known ? '1' : '0',
          hint.score ?? '',
          limits.tombstoneTtlMs,
          nonce(),
        ),
      )) as RemoveOutcome;
    },
    async add(status, item, ticket) {
      return (await bounded('add', () =>
        scripted.meskitCacheAdd(
          ...keys(status),
          base(status),
          item.member,
          item.score,
          item.doc,
          ticket,
          dataTtl,
          limits.maxDepth,
          maxPending(limits),
          nonce(),
        ),
      )) as AddOutcome;
    },
    async reset(statuses) {
      for (const status of statuses) {
        await bounded('reset', () =>
          scripted.meskitCacheReset(...keys(status), base(status), nonce()),
        );
      }
    },
    async size(status) {
      return Number(await bounded('ZCARD', () => client.zcard(`${base(status)}idx`)));
    },
    async close() {
      if (!opts.owned || client.status === 'end') return;
      try {
        await bounded('QUIT', () => client.quit());
      } catch {
        client.disconnect();
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Memory: the same protocol as the scripts, in one process. Every method runs synchronously to
// its end, which is the atomicity the Lua scripts get from Redis.

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
  added: Map<string, { ticket: number; score: number; doc: string }>;
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
        if (p.ticket > e0) pending.push({ member, score: p.score, doc: p.doc });
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
        s.added.set(item.member, { ticket, score: item.score, doc: item.doc });
        s.addedExpiresAt = now() + dataTtl;
        return Promise.resolve('pending');
      }
      if (ticket < s.filled) return Promise.resolve('reflected');
      if (s.entries.length >= s.total || aboveLowest(s, item)) {
        if (s.added.size >= maxPending(limits)) return Promise.resolve(markStale(s));
        s.added.set(item.member, { ticket, score: item.score, doc: item.doc });
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
