// A reference MES on a fresh database of the test services, seeded with orders, for the tests
// of the cache sidecar and its commands (the test kit's, seeded by the reference seeder).
import { startTestMes, type TestMes } from '@meskit/testkit';

export type { TestMes } from '@meskit/testkit';

/** About 4 % of seeded orders are MANUFACTURING_APPROVED: 2000 give a few full pages. */
export function startReferenceMes(orders = 2_000): Promise<TestMes> {
  return startTestMes({ prefix: 'cli_cache', seedOrders: orders });
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
