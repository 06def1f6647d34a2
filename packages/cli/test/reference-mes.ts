// A reference MES on a fresh database of the test services, seeded with orders, for the tests
// of the cache sidecar and its commands. Each test file gets its own database because test
// files run in parallel against the same PostgreSQL.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createReferenceMes, seedOrders } from '@meskit/reference-mes';
import pg from 'pg';
import { inject } from 'vitest';

export interface TestMes {
  url: string;
  close(): Promise<void>;
}

/** About 4 % of seeded orders are MANUFACTURING_APPROVED: 2000 give a few full pages. */
export async function startReferenceMes(orders = 2_000): Promise<TestMes> {
  const adminUrl = inject('services').DATABASE_URL;
  if (!adminUrl) throw new Error('the vitest global setup provided no DATABASE_URL');
  const name = `cli_cache_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  await withClient(adminUrl, (c) => c.query(`CREATE DATABASE ${name}`));
  const databaseUrl = new URL(adminUrl);
  databaseUrl.pathname = `/${name}`;
  const modelDir = await mkdtemp(join(tmpdir(), 'cli-cache-mes-'));
  const mes = await createReferenceMes({
    databaseUrl: databaseUrl.toString(),
    modelDir,
    logLevel: 'silent',
  });
  await seedOrders({ databaseUrl: databaseUrl.toString(), orders });
  return {
    url: mes.url,
    async close() {
      await mes.close();
      await withClient(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
      await rm(modelDir, { recursive: true, force: true });
    },
  };
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** GET as a client would, keeping the status, the Cache-Status header and the JSON body. */
export async function getPage(
  base: string,
  path: string,
): Promise<{ status: number; cacheStatus: string | null; body: PageBody }> {
  const response = await fetch(`${base}${path}`);
  const body = (await response.json()) as PageBody;
  return { status: response.status, cacheStatus: response.headers.get('cache-status'), body };
}

export interface PageBody {
  items: { id: number; status: string }[];
  page: number;
  pageSize: number;
  total: number;
}

export const FIRST_PAGE = '/api/orders?status=MANUFACTURING_APPROVED&page=1&pageSize=20';
