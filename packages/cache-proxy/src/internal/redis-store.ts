// The index store in Redis: each operation one Lua script (scripts.ts), every command bounded
// in time so a slow or absent Redis sends requests to the MES instead of holding them.
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
interface ScriptedClient {
  meskitCachePage: ScriptFn;
  meskitCacheFill: ScriptFn;
  meskitCacheRemove: ScriptFn;
  meskitCacheAdd: ScriptFn;
  meskitCacheReset: ScriptFn;
}

export type RedisClient = Redis | Cluster;

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
  const bounded = boundedRedis(client, opts.timeoutMs);

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
      if (opts.owned) await quitRedis(client, opts.timeoutMs);
    },
  };
}
