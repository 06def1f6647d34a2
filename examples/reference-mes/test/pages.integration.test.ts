// The operators' pages on a real database: the list of approved orders (in-process, through a
// real cache proxy on Redis, and with the proxy gone), the order page, escaping, and the Take
// button's own script run against the real API (see html.ts: there is no browser in the repo).
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCacheProxy, type CacheProxy } from '@meskit/cache-proxy';
import { InvalidOptionError } from '@meskit/kernel';
import { deadPort } from '@meskit/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createReferenceMes,
  OPERATOR_NAMES,
  type ReferenceMes,
  type ReferenceMesOptions,
} from '../src/index.js';
import { createTestDatabase, serviceUrls, uniqueName, type TestDatabase } from './helpers.js';
import { clickTake, parsePage, type PageElement } from './html.js';

interface Fixture {
  db: TestDatabase;
  mes: ReferenceMes;
  modelDir: string;
}

/** For the enclosing describe: a MES on a database of its own (`options` read in beforeAll). */
function usePagesMes(options: () => Partial<ReferenceMesOptions> = () => ({})): Fixture {
  const fixture = {} as Fixture;
  beforeAll(async () => {
    fixture.db = await createTestDatabase('mes_pages');
    fixture.modelDir = await mkdtemp(join(tmpdir(), 'mes-pages-'));
    fixture.mes = await createReferenceMes({
      databaseUrl: fixture.db.url,
      modelDir: fixture.modelDir,
      logLevel: 'silent',
      ...options(),
    });
  });
  afterAll(async () => {
    await fixture.mes?.close();
    await fixture.db?.drop();
    if (fixture.modelDir) await rm(fixture.modelDir, { recursive: true, force: true });
  });
  return fixture;
}

interface Row {
  status: string;
  createdAt: Date;
  price?: number;
  externalId?: string;
  modelRef?: string;
  currency?: string;
  operatorId?: number;
}

/** Inserts orders with exact fields, as customers' data could hold them; returns their ids. */
async function insert(db: TestDatabase, rows: readonly Row[]): Promise<number[]> {
  const ids: number[] = [];
  for (const row of rows) {
    const result = await db.query<{ id: string }>(
      `INSERT INTO orders (external_id, source, status, model_ref, polygon_count, price, currency,
                           operator_id, created_at, updated_at)
       VALUES ($1, 'b2c', $2, $3, 12000, $4, $5, $6, $7, $7) RETURNING id`,
      [
        row.externalId ?? uniqueName('page'),
        row.status,
        row.modelRef ?? 'shop/ring.stl',
        row.price ?? null,
        row.currency ?? 'EUR',
        row.operatorId ?? null,
        row.createdAt,
      ],
    );
    ids.push(Number(result.rows[0]!.id));
  }
  return ids;
}

interface Rendered {
  status: number;
  contentType: string | null;
  headers: Headers;
  html: string;
  page: PageElement;
}

async function render(base: string, path: string): Promise<Rendered> {
  const res = await fetch(`${base}${path}`);
  const html = await res.text();
  return {
    status: res.status,
    contentType: res.headers.get('content-type'),
    headers: res.headers,
    html,
    page: parsePage(html),
  };
}

const rowIds = (r: Rendered): number[] =>
  r.page.querySelectorAll('[data-testid="order-row"]').map((row) => Number(row.dataset['orderId']));

const prices = (r: Rendered): string[] =>
  r.page.querySelectorAll('[data-testid="order-price"]').map((cell) => cell.textContent);

const listSource = (r: Rendered): string | undefined =>
  r.page.byTestId('order-list').dataset['listSource'];

const sha256 = (text: string): string => createHash('sha256').update(text).digest('base64');

const minute = (n: number): Date => new Date(Date.UTC(2026, 0, 5, 9, n));

/** 23 approved orders inserted out of date order, and newer ones in other statuses. */
async function seedList(db: TestDatabase): Promise<Array<{ id: number; price: number }>> {
  const approved = Array.from({ length: 23 }, (_, i) => ({
    status: 'MANUFACTURING_APPROVED',
    createdAt: minute((i * 7) % 23),
    price: 100 + i + 0.5,
  }));
  const ids = await insert(db, approved);
  await insert(db, [
    { status: 'PRICE_CALCULATED', createdAt: minute(40), price: 1 },
    { status: 'MANUFACTURING_STARTED', createdAt: minute(41), price: 2, operatorId: 5 },
    { status: 'CLOSED', createdAt: minute(42), price: 3 },
  ]);
  return approved
    .map((row, i) => ({ id: ids[i]!, price: row.price, at: row.createdAt.getTime() }))
    .sort((a, b) => b.at - a.at)
    .map(({ id, price }) => ({ id, price }));
}

describe('GET /operators', () => {
  const f = usePagesMes();
  let newestFirst: Array<{ id: number; price: number }>;

  beforeAll(async () => {
    newestFirst = await seedList(f.db);
  });

  it('without an operator: a sign-in form with the twenty operators, and no orders', async () => {
    const r = await render(f.mes.url, '/operators');
    expect(r.status).toBe(200);
    expect(r.contentType).toBe('text/html; charset=utf-8');
    const options = r.page.byTestId('operator-select').querySelectorAll('option');
    expect(options.map((o) => o.attr('value'))).toEqual(OPERATOR_NAMES.map((_, i) => `${i + 1}`));
    expect(options[0]!.textContent).toBe(`${OPERATOR_NAMES[0]} (#1)`);
    expect(r.page.querySelectorAll('[data-testid="order-row"]')).toEqual([]);
    expect(r.page.querySelector('[data-testid="sign-in-notice"]')).toBeNull();
  });

  it.each(['abc', '0', '999', '01', '1%20'])(
    'operator=%s is nobody: the sign-in form again, saying so',
    async (operator) => {
      const r = await render(f.mes.url, `/operators?operator=${operator}`);
      expect(r.status).toBe(200);
      expect(r.page.byTestId('sign-in-notice').textContent).toContain(
        JSON.stringify(decodeURIComponent(operator)),
      );
      expect(r.page.querySelector('[data-testid="order-row"]')).toBeNull();
    },
  );

  it('shows exactly the approved orders, newest first, twenty a page, with their prices', async () => {
    const first = await render(f.mes.url, '/operators?operator=3');
    expect(first.status).toBe(200);
    expect(first.contentType).toBe('text/html; charset=utf-8');
    // The policy admits the page's own inline style and script, so a browser runs them.
    const policy = first.headers.get('content-security-policy') ?? '';
    for (const tag of ['style', 'script']) {
      const text = first.page.querySelectorAll(tag).map((e) => e.textContent);
      expect(text).toHaveLength(1);
      expect(policy).toContain(`${tag}-src 'sha256-${sha256(text[0]!)}'`);
    }
    expect(first.page.byTestId('signed-in-operator').textContent).toBe(OPERATOR_NAMES[2]);
    expect(listSource(first)).toBe('direct');
    expect(rowIds(first)).toEqual(newestFirst.slice(0, 20).map((o) => o.id));
    expect(prices(first)).toEqual(newestFirst.slice(0, 20).map((o) => `${o.price.toFixed(2)} EUR`));
    expect(first.page.querySelectorAll('[data-testid="take-button"]')).toHaveLength(20);

    const second = await render(f.mes.url, '/operators?operator=3&page=2');
    expect(rowIds(second)).toEqual(newestFirst.slice(20).map((o) => o.id));
    expect(second.page.querySelector('a[rel="prev"]')?.attr('href')).toBe('/operators?operator=3');
  });

  it.each(['0', '-1', 'abc'])('page=%s is a 400 page', async (page) => {
    const r = await render(f.mes.url, `/operators?operator=3&page=${page}`);
    expect(r.status).toBe(400);
    expect(r.contentType).toBe('text/html; charset=utf-8');
    expect(r.page.byTestId('error').dataset['errorCode']).toBe('INVALID_PAGE');
  });

  it('a take by the page’s own script: “taken by you”, and gone from the next render', async () => {
    const pageUrl = `${f.mes.url}/operators?operator=3`;
    const before = await render(f.mes.url, '/operators?operator=3');
    const id = rowIds(before)[0]!;

    const take = await clickTake(pageUrl, before.html, id);
    expect(take.request).toEqual({
      url: `${f.mes.url}/api/orders/${id}/take`,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: { operatorId: 3 },
    });
    expect(take).toMatchObject({
      status: 200,
      outcome: 'taken',
      message: 'Taken by you.',
      linkShown: true,
      linkHref: `/operators/orders/${id}?operator=3`,
      buttonDisabled: true,
    });

    const after = await render(f.mes.url, '/operators?operator=3');
    expect(rowIds(after)).not.toContain(id);
    expect(rowIds(after)[0]).toBe(rowIds(before)[1]);
    const order = await render(f.mes.url, `/operators/orders/${id}?operator=3`);
    expect(order.page.byTestId('order-status').textContent).toBe('MANUFACTURING_STARTED');
    expect(order.page.byTestId('order-operator').textContent).toBe(
      `${OPERATOR_NAMES[2]} (#3) · you`,
    );
  });

  it('an operator on a page rendered before someone else’s take sees the 409', async () => {
    const stale = await render(f.mes.url, '/operators?operator=4');
    const id = rowIds(stale)[0]!;
    const winner = await render(f.mes.url, '/operators?operator=5');
    expect((await clickTake(`${f.mes.url}/operators?operator=5`, winner.html, id)).status).toBe(
      200,
    );

    const late = await clickTake(`${f.mes.url}/operators?operator=4`, stale.html, id);
    expect(late).toMatchObject({
      status: 409,
      outcome: 'ORDER_ALREADY_TAKEN',
      message: `order ${id} was already taken by operator 5`,
      linkShown: true,
      buttonDisabled: true,
    });
  });
});

describe('GET /operators/orders/{id}', () => {
  const f = usePagesMes();

  it('shows the order’s fields, its status and who took it', async () => {
    const [open, taken] = await insert(f.db, [
      {
        status: 'MANUFACTURING_APPROVED',
        createdAt: minute(1),
        price: 212.5,
        externalId: 'SHOP-1',
      },
      { status: 'MANUFACTURING_STARTED', createdAt: minute(2), price: 99, operatorId: 7 },
    ]);
    const r = await render(f.mes.url, `/operators/orders/${open}`);
    expect(r.status).toBe(200);
    expect(r.contentType).toBe('text/html; charset=utf-8');
    expect(r.page.byTestId('order').dataset['orderId']).toBe(String(open));
    expect(r.page.byTestId('order-status').textContent).toBe('MANUFACTURING_APPROVED');
    expect(r.page.byTestId('order-operator').textContent).toBe('nobody yet');
    expect(r.page.byTestId('order-external-id').textContent).toBe('SHOP-1');
    expect(r.page.byTestId('order-price').textContent).toBe('212.50 EUR');
    expect(r.page.querySelectorAll('script')).toEqual([]);

    const other = await render(f.mes.url, `/operators/orders/${taken}?operator=2`);
    expect(other.page.byTestId('order-status').textContent).toBe('MANUFACTURING_STARTED');
    expect(other.page.byTestId('order-operator').textContent).toBe(`${OPERATOR_NAMES[6]} (#7)`);
    expect(other.page.byTestId('signed-in-operator').textContent).toBe(OPERATOR_NAMES[1]);
  });

  it('an unknown id is a 404 page', async () => {
    const r = await render(f.mes.url, '/operators/orders/987654321');
    expect(r.status).toBe(404);
    expect(r.contentType).toBe('text/html; charset=utf-8');
    expect(r.page.byTestId('error').dataset['errorCode']).toBe('ORDER_NOT_FOUND');
    expect(r.page.byTestId('error').textContent).toBe('order 987654321 does not exist');
  });

  it.each(['abc', '0', '1.5', '99999999999999999999'])(
    'a malformed id (%s) is a 400 page',
    async (id) => {
      const r = await render(f.mes.url, `/operators/orders/${id}`);
      expect(r.status).toBe(400);
      expect(r.contentType).toBe('text/html; charset=utf-8');
      expect(r.page.byTestId('error').dataset['errorCode']).toBe('INVALID_ID');
    },
  );
});

describe('customers’ data in the pages', () => {
  const f = usePagesMes();
  const hostile = {
    externalId: '<script>alert("id")</script>',
    modelRef: `"><img src=x onerror=alert('model')>`,
    currency: '<b>EUR</b>&amp;',
  };

  it('is escaped: shown as text, never as markup, on the list and the order page', async () => {
    const [id] = await insert(f.db, [
      { status: 'MANUFACTURING_APPROVED', createdAt: minute(1), price: 10, ...hostile },
    ]);
    const list = await render(f.mes.url, '/operators?operator=1');
    const order = await render(f.mes.url, `/operators/orders/${id}`);
    for (const r of [list, order]) {
      expect(r.html).not.toContain('<script>alert');
      expect(r.html).not.toContain('<img');
      expect(r.html).not.toContain('<b>');
      expect(r.page.byTestId('order-external-id').textContent).toBe(hostile.externalId);
      expect(r.page.byTestId('order-model').textContent).toBe(hostile.modelRef);
      expect(r.page.byTestId('order-price').textContent).toBe(`10.00 ${hostile.currency}`);
    }
    // The list's one script is the Take button's; the order page has none.
    expect(list.page.querySelectorAll('script')).toHaveLength(1);
    expect(list.page.querySelectorAll('img')).toEqual([]);
    expect(order.page.querySelectorAll('script')).toEqual([]);
    expect(rowIds(list)).toEqual([id]);
  });
});

describe('an empty list', () => {
  const f = usePagesMes();

  it('says that no approved order is waiting, with no rows', async () => {
    await insert(f.db, [
      { status: 'PRICE_CALCULATED', createdAt: minute(1) },
      { status: 'MANUFACTURING_STARTED', createdAt: minute(2), operatorId: 1 },
    ]);
    const r = await render(f.mes.url, '/operators?operator=1');
    expect(r.status).toBe(200);
    expect(r.page.byTestId('empty-state').textContent).toMatch(/^No approved orders are waiting/);
    expect(rowIds(r)).toEqual([]);
    expect(r.page.querySelectorAll('script')).toHaveLength(1);

    const beyond = await render(f.mes.url, '/operators?operator=1&page=3');
    expect(beyond.page.byTestId('empty-state').textContent).toMatch(/^Page 3 is empty/);
  });
});

describe('pagesApiUrl: the list read through a real cache proxy on Redis', () => {
  let proxy: CacheProxy;
  let mesPort: number;
  let newestFirst: Array<{ id: number; price: number }>;

  // Registered before the MES's hooks: the proxy starts first (it contacts its upstream only
  // when asked, on the port the MES then takes) and closes after the MES.
  beforeAll(async () => {
    mesPort = await deadPort();
    proxy = await createCacheProxy({
      upstream: `http://127.0.0.1:${mesPort}`,
      port: 0,
      redis: serviceUrls().redisUrl,
      keyPrefix: `${uniqueName('test-pages')}:`,
    });
  });
  afterAll(async () => {
    await proxy?.close();
  });
  const f = usePagesMes(() => ({ port: mesPort, pagesApiUrl: proxy.url }));
  beforeAll(async () => {
    newestFirst = await seedList(f.db);
  });

  it('opened through the proxy, the list is the proxy’s: a fill, then hits', async () => {
    const path = '/operators?operator=2';
    const first = await render(proxy.url, path);
    expect(first.status).toBe(200);
    expect(listSource(first)).toMatch(/^meskit; fwd=(miss|stale); stored/);
    expect(rowIds(first)).toEqual(newestFirst.slice(0, 20).map((o) => o.id));
    expect(prices(first)).toEqual(newestFirst.slice(0, 20).map((o) => `${o.price.toFixed(2)} EUR`));

    const again = await render(proxy.url, path);
    expect(listSource(again)).toBe('meskit; hit');
    expect(rowIds(again)).toEqual(rowIds(first));
    // Opened at the MES itself, the page still reads its list through the proxy.
    expect(listSource(await render(f.mes.url, path))).toBe('meskit; hit');
  });

  it('an order taken by the page’s script through the proxy is gone from the next render', async () => {
    const pageUrl = `${proxy.url}/operators?operator=2`;
    const before = await render(proxy.url, '/operators?operator=2');
    const id = rowIds(before)[0]!;
    const take = await clickTake(pageUrl, before.html, id);
    expect(take.request.url).toBe(`${proxy.url}/api/orders/${id}/take`);
    expect(take).toMatchObject({ status: 200, outcome: 'taken' });

    const after = await render(proxy.url, '/operators?operator=2');
    expect(listSource(after)).toBe('meskit; hit');
    expect(rowIds(after)).not.toContain(id);
    expect(rowIds(after)[0]).toBe(rowIds(before)[1]);
  });
});

describe('pagesApiUrl that does not answer', () => {
  let port: number;
  beforeAll(async () => {
    port = await deadPort();
  });
  const f = usePagesMes(() => ({ pagesApiUrl: `http://127.0.0.1:${port}/` }));

  it('the list is a 502 page naming the URL; the rest of the pages still work', async () => {
    await insert(f.db, [{ status: 'MANUFACTURING_APPROVED', createdAt: minute(1) }]);
    const r = await render(f.mes.url, '/operators?operator=1');
    expect(r.status).toBe(502);
    expect(r.contentType).toBe('text/html; charset=utf-8');
    const error = r.page.byTestId('error');
    expect(error.dataset['errorCode']).toBe('PAGES_API_UNAVAILABLE');
    expect(error.textContent).toContain(`http://127.0.0.1:${port}/api/orders`);
    expect(error.textContent).toContain('ECONNREFUSED');

    expect((await render(f.mes.url, '/operators')).status).toBe(200);
    const [id] = await insert(f.db, [{ status: 'PACKAGING', createdAt: minute(2) }]);
    expect((await render(f.mes.url, `/operators/orders/${id}`)).status).toBe(200);
  });
});

describe('pagesApiUrl that accepts and never answers', () => {
  let silent: Server;
  beforeAll(async () => {
    silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    silent.closeAllConnections();
    await new Promise((resolve) => silent.close(resolve));
  });
  const f = usePagesMes(() => {
    const { port } = silent.address() as { port: number };
    return { pagesApiUrl: `http://127.0.0.1:${port}`, pagesApiTimeoutMs: 200 };
  });

  it('the list is a 502 page once pagesApiTimeoutMs has passed', async () => {
    const r = await render(f.mes.url, '/operators?operator=1');
    expect(r.status).toBe(502);
    expect(r.page.byTestId('error').textContent).toContain('no answer within 200 ms');
  });
});

describe('createReferenceMes pages options', () => {
  it.each([
    [{ pagesApiUrl: '' }, 'pagesApiUrl'],
    [{ pagesApiUrl: 'not a url' }, 'pagesApiUrl'],
    [{ pagesApiUrl: 'ftp://127.0.0.1:8090' }, 'pagesApiUrl'],
    [{ pagesApiUrl: 'http://user:secret@127.0.0.1:8090' }, 'pagesApiUrl'],
    [{ pagesApiUrl: 'http://127.0.0.1:8090/?status=x' }, 'pagesApiUrl'],
    [{ pagesApiTimeoutMs: 0 }, 'pagesApiTimeoutMs'],
    [{ pagesApiTimeoutMs: 1.5 }, 'pagesApiTimeoutMs'],
  ])('throws INVALID_OPTION for %j at once, naming the option', (patch, option) => {
    let thrown: unknown;
    try {
      void createReferenceMes({ databaseUrl: 'postgres://127.0.0.1:1/x', modelDir: 'm', ...patch });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(InvalidOptionError);
    expect(thrown).toMatchObject({ code: 'INVALID_OPTION', option });
    expect(String(thrown)).not.toContain('secret');
  });
});
