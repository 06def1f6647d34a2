// The main promise under load (concurrency-scenario.ts), on the run's one database.
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { createCacheProxy, type CacheProxy } from '../dist/index.js';
import { readsRacingTakes } from './concurrency-scenario.js';
import { consumerConnected, eventOptions, useMes, useRedis, type TestMes } from './helpers.js';

let mes: TestMes;
let redis: Redis;
let proxy: CacheProxy;

useMes({ orders: 1000, approvedShare: 0.5, amqp: true }, (started) => (mes = started));
useRedis((client) => (redis = client));

beforeAll(async () => {
  proxy = await createCacheProxy({
    upstream: mes.url,
    port: 0,
    redis,
    ...eventOptions(mes),
    ttlMs: 300, // fills keep racing the takes
    eventRetryDelayMs: 50,
    registry: new Registry(),
  });
  await consumerConnected(proxy);
});

afterAll(async () => {
  await proxy?.close();
});

describe('reads racing takes, direct takes and approvals', () => {
  it('no read that started after a take was acknowledged lists the taken order', async () => {
    await readsRacingTakes(mes, proxy);
  });
});
