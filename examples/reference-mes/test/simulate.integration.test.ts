// simulateTraffic against a real MES: the whole order lifecycle driven from outside.
import { describe, expect, it } from 'vitest';
import { simulateTraffic, summarise, type ReferenceMes } from '../src/index.js';
import { waitFor, serviceUrls, useMesOnBroker, type TestDatabase } from './helpers.js';

let db: TestDatabase;
let mes: ReferenceMes;
let modelDir: string;
let exchange: string;
useMesOnBroker(
  'sim',
  { logLevel: 'warn' }, // failures only: no request line per simulated call in the test output
  (fixture) => ({ db, mes, modelDir, exchange } = fixture),
);

describe('simulateTraffic', () => {
  it('drives shop orders, CRM approvals, B2B quotes and racing operators through the MES', async () => {
    const report = await simulateTraffic({
      mesUrl: mes.url,
      amqpUrl: serviceUrls().amqpUrl,
      modelDir,
      exchange,
      durationMs: 6_000,
      operators: 4,
      shopOrdersPerSecond: 5,
      b2bQuotesPerSecond: 1,
      operatorThinkMs: 50,
    });
    expect(report.errors).toBe(0);
    // Each kind of traffic happened (counts depend on how loaded the machine is, so only
    // their presence and their relations are asserted).
    expect(report.shopOrdersSubmitted).toBeGreaterThanOrEqual(1);
    expect(report.b2bQuotes).toBeGreaterThanOrEqual(1);
    expect(report.priceCalculatedReceived).toBeGreaterThanOrEqual(1);
    expect(report.priceCalculatedReceived).toBeLessThanOrEqual(
      report.shopOrdersSubmitted + report.b2bQuotes,
    );
    expect(report.approvalsSent).toBe(report.priceCalculatedReceived);
    expect(report.takesWon).toBeGreaterThanOrEqual(1);
    expect(report.firstPageLatency.samples).toBe(report.firstPageRequests);
    expect(report.firstPageLatency.p50Ms).toBeLessThanOrEqual(report.firstPageLatency.p99Ms);

    // What the report claims is what the database holds.
    const count = async (where: string): Promise<number> =>
      Number(
        (await db.query<{ n: string }>(`SELECT count(*) AS n FROM orders WHERE ${where}`)).rows[0]!
          .n,
      );
    expect(await count(`status = 'MANUFACTURING_STARTED'`)).toBe(report.takesWon);
    expect(await count(`source = 'b2b'`)).toBe(report.b2bQuotes);
    expect(report.takesWon).toBeLessThanOrEqual(report.approvalsSent);
    // Messages published in the last moments may still be on their way to the MES.
    await waitFor('every shop order reached the MES', async () => {
      return (await count(`source = 'b2c'`)) === report.shopOrdersSubmitted;
    });
  });

  it('stops early when its signal aborts', async () => {
    const controller = new AbortController();
    const run = simulateTraffic({
      mesUrl: mes.url,
      amqpUrl: serviceUrls().amqpUrl,
      modelDir,
      exchange,
      // Far beyond the test timeout: only the abort can end this run in time.
      durationMs: 10 * 60_000,
      operators: 2,
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(), 500);
    const report = await run;
    expect(report.errors).toBe(0);
    expect(report.firstPageRequests).toBeGreaterThan(0);
  });

  it('rejects bad options naming the option', async () => {
    await expect(
      simulateTraffic({ mesUrl: mes.url, amqpUrl: serviceUrls().amqpUrl, modelDir, durationMs: 0 }),
    ).rejects.toMatchObject({
      code: 'INVALID_OPTION',
      component: 'simulateTraffic',
      option: 'durationMs',
    });
  });

  it('summarises latencies by nearest rank', () => {
    const samples = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(summarise(samples)).toEqual({ p50Ms: 50, p99Ms: 99, samples: 100 });
    expect(summarise([])).toEqual({ p50Ms: 0, p99Ms: 0, samples: 0 });
  });
});
