// The index store in Redis: each operation one Lua script (scripts.ts), every command bounded
// in time so a slow or absent Redis sends requests to the MES instead of holding them. On a
// replicated Redis (Sentinel, Cluster) every write is followed by WAIT on a connection of its
// own, so a failover cannot lose a removal a client was told about, and reads never queue
// behind a WAIT.
import { boundedRedis, quitRedis } from '@meskit/kernel';
import type { Cluster, Redis } from 'ioredis';
import { ADD_LUA, FILL_LUA, PAGE_LUA, REMOVE_LUA, RESET_LUA } from './scripts.js';
import {
  dataTtlMs,
  maxPending,
  nonce,
  type AddOutcome,
  type FillOutcome,
  type IndexStore,
  type RemoveOutcome,
  type StoreLimits,
} from './store.js';

type ScriptFn = (...args: (string | number)[]) => Promise<unknown>;
type ScriptName =
  | 'meskitCachePage'
  | 'meskitCacheFill'
  | 'meskitCacheRemove'
  | 'meskitCacheAdd'
  | 'meskitCacheReset';
type ScriptedClient = Record<ScriptName, ScriptFn>;
type WriteName = Exclude<ScriptName, 'meskitCachePage'> | 'incr';
interface WritePipeline {
  wait(replicas: number, timeoutMs: number): WritePipeline;
  exec(): Promise<Array<[Error | null, unknown]> | null>;
}

export type RedisClient = Redis | Cluster;

/**
 * After a WAIT found too few replicas, writes go without WAIT this long (each counted as
 * unreplicated): the writes of one connection wait in turn, so a WAIT per write while the
 * replicas are away would hold them all behind each other.
 */
const UNREPLICATED_PAUSE_MS = 1_000;

const SCRIPTS: ReadonlyArray<[ScriptName, string, number]> = [
  ['meskitCachePage', PAGE_LUA, 6],
  ['meskitCacheFill', FILL_LUA, 7],
  ['meskitCacheRemove', REMOVE_LUA, 7],
  ['meskitCacheAdd', ADD_LUA, 7],
  ['meskitCacheReset', RESET_LUA, 7],
];

function defineScripts(client: RedisClient): void {
  for (const [name, lua, numberOfKeys] of SCRIPTS) {
    const existing = (client as unknown as Record<string, unknown>)[name];
    if (typeof existing !== 'function') client.defineCommand(name, { lua, numberOfKeys });
  }
}

export function redisStore(opts: {
  client: RedisClient;
  /** The proxy created the client, so it closes it. */
  owned: boolean;
  keyPrefix: string;
  limits: StoreLimits;
  timeoutMs: number;
  /** Replicas each write waits for (WAIT); 0: none. */
  replicas: number;
  /**
   * The connection writes go on when they WAIT (a WAIT holds its connection until the
   * replicas answer, and reads must not queue behind it); the store closes it. Default:
   * `client`.
   */
  writer?: RedisClient;
  /** A write no replica acknowledged within half of `timeoutMs` (it still counts). */
  onUnreplicated: () => void;
}): IndexStore {
  const { client, limits, replicas } = opts;
  defineScripts(client);
  const writer = opts.writer ?? client;
  if (writer !== client) defineScripts(writer);
  const scripted = client as unknown as ScriptedClient;
  const dataTtl = dataTtlMs(limits);
  let incarnation = 0;
  // 'ready' is emitted as the status becomes ready, before any command can go out on the new
  // connection (no offline queue), so a check of `incarnation` before a command is reliable.
  // A Cluster stays ready while a master fails over: a node joining or leaving its pool is
  // counted as a reconnection too.
  const reconnected = (): void => {
    incarnation += 1;
  };
  for (const connection of writer === client ? [client] : [client, writer]) {
    connection.on('ready', reconnected);
    if ((connection as { isCluster?: boolean }).isCluster === true) {
      connection.on('+node', reconnected);
      connection.on('-node', reconnected);
    }
  }

  /** `<prefix>{<status>}:`: one hash tag per status, so a status lives in one Cluster slot. */
  const base = (status: string): string => `${opts.keyPrefix}{${status}}:`;
  const keys = (status: string): string[] => {
    const b = base(status);
    return ['idx', 'total', 'filled', 'fillEpoch', 'reset', 'added', 'epoch'].map((k) => b + k);
  };

  /** The command's answer, or a rejection once `timeoutMs` passes (the command may still land). */
  const bounded = boundedRedis(client, opts.timeoutMs);
  // WAIT gives up after half the budget: the write's own bound must not fire first and turn
  // a write that landed into a failure.
  const waitMs = Math.max(1, Math.floor(opts.timeoutMs / 2));
  /** The last WAIT found too few replicas: writes do not WAIT until `waitAgainAt`. */
  let degraded = false;
  let waitAgainAt = 0;
  /** A write is asking the replicas again (degraded): the others do not WAIT meanwhile. */
  let probing = false;
  // A write and its WAIT each get the budget.
  const boundedWrite = boundedRedis(writer, replicas > 0 ? 2 * opts.timeoutMs : opts.timeoutMs);

  /**
   * Sends one write; with replicas, as a pipeline with WAIT (one round trip, on a Cluster to
   * the node of the write's slot). Rejects when the write failed; resolves with its answer
   * once the replicas acknowledged it, or once WAIT timed out (counted).
   */
  function write(operation: string, name: WriteName, args: (string | number)[]): Promise<unknown> {
    const target = writer as unknown as Record<WriteName, ScriptFn>;
    if (replicas === 0) return boundedWrite(operation, () => target[name](...args));
    if (degraded && (probing || Date.now() < waitAgainAt)) {
      // Too few replicas answered lately: a WAIT per write would hold every write of the
      // connection behind the one before it. One write at a time asks again, every second.
      opts.onUnreplicated();
      return boundedWrite(operation, () => target[name](...args));
    }
    return boundedWrite(operation, async () => {
      // Set before the first await: boundedRedis calls this at once, or not at all.
      const probe = degraded;
      if (probe) probing = true;
      const pipeline = writer.pipeline() as unknown as Record<WriteName, ScriptFn> & WritePipeline;
      (pipeline[name] as unknown as (...a: (string | number)[]) => WritePipeline)(...args);
      let replies;
      try {
        replies = await pipeline.wait(replicas, waitMs).exec();
      } finally {
        if (probe) probing = false;
      }
      const [written, waited] = replies ?? [];
      if (!written || written[0]) {
        const error = written?.[0] ?? new Error(`Redis did not answer ${operation}`);
        refreshSlotsOnRedirect(writer, error);
        throw error;
      }
      degraded = !waited || waited[0] !== null || Number(waited[1]) < replicas;
      if (degraded) {
        opts.onUnreplicated();
        waitAgainAt = Date.now() + UNREPLICATED_PAUSE_MS;
      }
      return written[1];
    });
  }

  return {
    kind: 'redis',
    get incarnation() {
      return incarnation;
    },
    async ticket(status) {
      return Number(await write('INCR', 'incr', [`${base(status)}epoch`]));
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
      return (await write('fill', 'meskitCacheFill', args)) as FillOutcome;
    },
    async remove(status, member, hint) {
      return (await write('remove', 'meskitCacheRemove', [
        ...keys(status),
        base(status),
        member,
        hint.known ? '1' : '0',
        hint.score ?? '',
        limits.tombstoneTtlMs,
        nonce(),
      ])) as RemoveOutcome;
    },
    async add(status, item, ticket) {
      return (await write('add', 'meskitCacheAdd', [
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
      ])) as AddOutcome;
    },
    async reset(statuses) {
      for (const status of statuses) {
        await write('reset', 'meskitCacheReset', [...keys(status), base(status), nonce()]);
      }
    },
    async size(status) {
      return Number(await bounded('ZCARD', () => client.zcard(`${base(status)}idx`)));
    },
    async close() {
      if (writer !== client) await quitRedis(writer, opts.timeoutMs);
      if (opts.owned) await quitRedis(client, opts.timeoutMs);
    },
  };
}

/**
 * A Cluster follows a MOVED itself for a lone command, and for a pipeline only when every
 * command in it failed alike or reads: the write + WAIT pipeline (WAIT has no key, and answers)
 * gets the MOVED back as its error, and the client's slot map is left as it was. Left so, the
 * writer would send every later write to the node that lost the slot, for good (seen after a
 * failover: the new master's writes failed until the process restarted). The caller retries;
 * the refreshed map sends the retry to the slot's master.
 */
function refreshSlotsOnRedirect(client: RedisClient, error: Error): void {
  if (!/^(MOVED|ASK|CLUSTERDOWN) /.test(error.message)) return;
  const cluster = client as { isCluster?: boolean; refreshSlotsCache?: (cb?: () => void) => void };
  if (cluster.isCluster === true) cluster.refreshSlotsCache?.(() => undefined);
}
