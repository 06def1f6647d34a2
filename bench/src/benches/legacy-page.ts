import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seedOrders } from '@meskit/reference-mes';
import { startServices } from '@meskit/services';
import { defineBenchmark } from '../lib/bench.js';
import { createDatabase } from '../lib/database.js';
import { spawnMes } from '../lib/mes-process.js';
import { round, sampleGet } from '../lib/stats.js';

/**
 * The legacy first page (OFFSET pagination, COUNT(*), no helpful index) at a small and a
 * large order count, in one run against one MES process: how badly it degrades as orders
 * grow. The small size is the baseline; the ratio is large p50 / small p50.
 */
export const legacyPage = defineBenchmark({
  name: 'legacy-page',
  description: "the legacy MES's first page of new orders at 10k and 1M orders",
  defaults: { small: 10_000, large: 1_000_000, samples: 40 },
  async run({ options: { small, large, samples }, log }) {
    if (large <= small) throw new Error('--large must exceed --small');
    const services = await startServices({ only: ['postgres'], replica: false, log });
    const modelDir = mkdtempSync(join(tmpdir(), 'meskit-bench-models-'));
    try {
      const databaseUrl = await createDatabase(services.urls.DATABASE_URL!, 'mes_bench');
      const mes = await spawnMes({ env: { DATABASE_URL: databaseUrl, MES_MODEL_DIR: modelDir } });
      try {
        const page = `${mes.url}/api/orders?status=MANUFACTURING_APPROVED&page=1&pageSize=20`;
        const now = new Date();
        log(`seeding ${small.toLocaleString('en-US')} orders`);
        await seedOrders({ databaseUrl, orders: small, now });
        const atSmall = await sampleGet(page, { samples: samples * 5, warmup: 10 });
        log(
          `small: p50 ${atSmall.p50Ms} ms; seeding up to ${large.toLocaleString('en-US')} orders`,
        );
        const seeded = await seedOrders({ databaseUrl, orders: large - small, now });
        const atLarge = await sampleGet(page, { samples, warmup: 3 });
        log(`large: p50 ${atLarge.p50Ms} ms`);
        const growth = round(atLarge.p50Ms / atSmall.p50Ms, 1);
        return {
          table: [
            [
              'first page (MANUFACTURING_APPROVED, 20 per page)',
              `${small.toLocaleString('en-US')} orders`,
              `${large.toLocaleString('en-US')} orders`,
              'ratio',
            ],
            ['p50 (ms)', atSmall.p50Ms, atLarge.p50Ms, growth],
            ['p99 (ms)', atSmall.p99Ms, atLarge.p99Ms, round(atLarge.p99Ms / atSmall.p99Ms, 1)],
            ['samples', atSmall.samples, atLarge.samples, ''],
          ],
          json: {
            bench: 'legacy-page',
            small: { orders: small, ...atSmall },
            large: { orders: large, ...atLarge },
            seedMs: Math.round(seeded.ms),
            ratios: { growthP50: growth, growthP99: round(atLarge.p99Ms / atSmall.p99Ms, 1) },
          },
        };
      } finally {
        await mes.stop();
      }
    } finally {
      await services.close();
      rmSync(modelDir, { recursive: true, force: true });
    }
  },
});
