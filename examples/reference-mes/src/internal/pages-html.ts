// The operators' pages as HTML: small server-rendered documents, inline CSS, one tiny inline
// script (the Take button), nothing external. Every value from an order is escaped: its fields
// come from customers and partners. The Content-Security-Policy allows exactly the inline style
// and script below (by hash), so markup slipped into a field could not run even if it got through.
import { createHash } from 'node:crypto';
import type { Operator, Order } from '../schema.js';
import type { Failure, Reply } from './replies.js';

const ENTITIES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Text safe in element content and in double- or single-quoted attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

const STYLE = `
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f5f6f8}
header{background:#1d2330;color:#fff;padding:.8rem 1.5rem;display:flex;gap:1rem;align-items:baseline;flex-wrap:wrap}
header h1{font-size:1.2rem;margin:0}header a{color:#9cc2ff}
main{padding:1rem 1.5rem;max-width:72rem}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{text-align:left;padding:.45rem .6rem;border-bottom:1px solid #e2e5ea;vertical-align:top}
th{font-size:.8rem;text-transform:uppercase;color:#5b6475}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
button{font:inherit;padding:.3rem .9rem;border:0;border-radius:4px;background:#0b63ce;color:#fff;cursor:pointer}
button:disabled{background:#9aa3b2;cursor:default}
output{display:block;font-size:.85rem;margin-top:.3rem}
output[data-outcome=taken]{color:#13733a}output[data-outcome=pending]{color:#5b6475}
output:not([data-outcome=taken]):not([data-outcome=pending]){color:#b3261e}
.empty,.notice{background:#fff;padding:1.5rem;border-radius:6px}
.notice{border-left:4px solid #b3261e}
nav.pages{margin-top:1rem;display:flex;gap:1rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.35rem 1.2rem;background:#fff;padding:1rem 1.5rem}
dt{color:#5b6475}dd{margin:0}
`;

// Static: every value it needs is in the page's data attributes, so nothing is interpolated
// into it. The URL is relative: opened through the cache proxy, the take goes through the
// proxy too, which drops the order from its cached list on a 2xx.
const TAKE_SCRIPT = `
document.addEventListener('click', async (event) => {
  const button = event.target.closest && event.target.closest('[data-testid="take-button"]');
  if (!button || button.disabled) return;
  const row = button.closest('[data-testid="order-row"]');
  const outcome = row.querySelector('[data-testid="take-outcome"]');
  const message = outcome.querySelector('[data-testid="take-message"]');
  const operatorId = Number(button.closest('[data-operator-id]').dataset.operatorId);
  button.disabled = true;
  outcome.dataset.outcome = 'pending';
  message.textContent = 'Taking…';
  let state = 'error';
  let text;
  let retry = true;
  try {
    const res = await fetch('/api/orders/' + encodeURIComponent(row.dataset.orderId) + '/take', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ operatorId }),
    });
    const body = await res.json().catch(() => null);
    const error = (body && body.error) || {};
    if (res.ok) {
      state = 'taken';
      text = 'Taken by you.';
    } else {
      state = error.code || 'error';
      text = error.message || 'The MES answered ' + res.status + '.';
    }
    retry = !res.ok && res.status !== 409 && res.status !== 404;
  } catch (err) {
    text = 'Could not reach the MES: ' + err.message;
  }
  button.disabled = !retry;
  outcome.dataset.outcome = state;
  message.textContent = text;
  outcome.querySelector('[data-testid="take-link"]').hidden = false;
});
`;

const hashOf = (text: string): string =>
  `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

const PAGE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy': [
    "default-src 'none'",
    `style-src ${hashOf(STYLE)}`,
    `script-src ${hashOf(TAKE_SCRIPT)}`,
    "connect-src 'self'",
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join('; '),
  'x-content-type-options': 'nosniff',
  // Orders change hands every second: a page shown again from a cache would offer taken ones.
  'cache-control': 'no-store',
});

function page(status: number, title: string, header: string, main: string, script = false): Reply {
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · Reference MES</title>
<style>${STYLE}</style>
</head>
<body>
<header><h1>${escapeHtml(title)}</h1>${header}</header>
<main>
${main}
</main>
${script ? `<script>${TAKE_SCRIPT}</script>\n` : ''}</body>
</html>
`;
  return { status, html, headers: PAGE_HEADERS };
}

const listHref = (operator: Operator | undefined, pageNumber = 1): string => {
  const query = [
    ...(operator ? [`operator=${operator.id}`] : []),
    ...(pageNumber > 1 ? [`page=${pageNumber}`] : []),
  ];
  return `/operators${query.length > 0 ? `?${query.join('&')}` : ''}`;
};

const orderHref = (id: number, operator: Operator | undefined): string =>
  `/operators/orders/${id}${operator ? `?operator=${operator.id}` : ''}`;

function signedIn(operator: Operator): string {
  return `<p>Signed in as <strong data-testid="signed-in-operator" data-operator-id="${operator.id}">${escapeHtml(operator.name)}</strong> (#${operator.id}) · <a href="/operators">switch operator</a></p>`;
}

function price(order: Order): string {
  return order.price === null ? '—' : `${order.price.toFixed(2)} ${escapeHtml(order.currency)}`;
}

function time(iso: string): string {
  const shown = `${new Date(iso).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
  return `<time datetime="${escapeHtml(iso)}">${shown}</time>`;
}

const orDash = (value: unknown): string =>
  value === null || value === undefined ? '—' : escapeHtml(value);

/** `GET /operators` without a (known) operator: who is taking orders? */
export function signInPage(operators: readonly Operator[], rejected: string | null): Reply {
  const notice =
    rejected === null
      ? ''
      : `<p class="notice" data-testid="sign-in-notice">There is no operator ${escapeHtml(JSON.stringify(rejected.slice(0, 64)))}; choose yourself below.</p>\n`;
  const options = operators
    .map((o) => `<option value="${o.id}">${escapeHtml(o.name)} (#${o.id})</option>`)
    .join('\n');
  return page(
    200,
    'Sign in',
    '',
    `${notice}<form method="get" action="/operators" data-testid="sign-in">
<label>Operator <select name="operator" data-testid="operator-select">
${options}
</select></label>
<button type="submit">Show the new orders</button>
</form>`,
  );
}

export interface ListView {
  operator: Operator;
  items: readonly Order[];
  total: number;
  page: number;
  pageSize: number;
  /** `data-list-source`: the list answer's Cache-Status, `http` without one, `direct` in-process. */
  source: string;
}

/** `GET /operators`: the newest approved orders, newest first, each with a Take button. */
export function listPage(view: ListView): Reply {
  const { operator, items, total, page: pageNumber, pageSize } = view;
  const lastPage = Math.max(1, Math.ceil(total / pageSize));
  const rows = items.map((order) => {
    const href = escapeHtml(orderHref(order.id, operator));
    return `<tr data-testid="order-row" data-order-id="${order.id}">
<td><a href="${href}">#${order.id}</a></td>
<td data-testid="order-external-id">${escapeHtml(order.externalId)}</td>
<td>${escapeHtml(order.source)}</td>
<td data-testid="order-model">${orDash(order.modelRef)}</td>
<td class="num">${orDash(order.polygonCount)}</td>
<td class="num" data-testid="order-price">${price(order)}</td>
<td>${time(order.createdAt)}</td>
<td><button type="button" data-testid="take-button">Take</button>
<output data-testid="take-outcome" aria-live="polite"><span data-testid="take-message"></span> <a data-testid="take-link" href="${href}" hidden>Open order #${order.id}</a></output></td>
</tr>`;
  });
  const content =
    items.length > 0
      ? `<table>
<thead><tr><th>Order</th><th>Reference</th><th>Source</th><th>Model</th><th>Polygons</th><th>Price</th><th>Created</th><th></th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody>
</table>`
      : pageNumber === 1
        ? `<p class="empty" data-testid="empty-state">No approved orders are waiting. New ones appear here as soon as the CRM approves them: reload the page.</p>`
        : `<p class="empty" data-testid="empty-state">Page ${pageNumber} is empty. <a href="${escapeHtml(listHref(operator))}">Back to the newest orders</a>.</p>`;
  const nav = [
    pageNumber > 1
      ? `<a href="${escapeHtml(listHref(operator, pageNumber - 1))}" rel="prev">Newer</a>`
      : '',
    `<span>Page ${pageNumber} of ${lastPage} · ${total} waiting</span>`,
    pageNumber < lastPage
      ? `<a href="${escapeHtml(listHref(operator, pageNumber + 1))}" rel="next">Older</a>`
      : '',
  ].join('');
  return page(
    200,
    'New orders',
    signedIn(operator),
    `<section data-testid="order-list" data-list-source="${escapeHtml(view.source)}" data-operator-id="${operator.id}">
${content}
</section>
<nav class="pages">${nav}</nav>`,
    true,
  );
}

export interface OrderView {
  order: Order;
  /** Who took it: undefined while nobody has. */
  takenBy: Operator | undefined;
  /** The signed-in operator (`?operator=`), for the way back to the list. */
  viewer: Operator | undefined;
}

/** `GET /operators/orders/{id}`: one order, its status and who took it. */
export function orderPage({ order, takenBy, viewer }: OrderView): Reply {
  const taker = takenBy
    ? `${escapeHtml(takenBy.name)} (#${takenBy.id})${viewer?.id === takenBy.id ? ' · you' : ''}`
    : 'nobody yet';
  const fields: Array<[string, string, string?]> = [
    ['Order', `#${order.id}`],
    ['Status', escapeHtml(order.status), 'order-status'],
    ['Taken by', taker, 'order-operator'],
    ['Reference', escapeHtml(order.externalId), 'order-external-id'],
    ['Source', escapeHtml(order.source)],
    ['Model', orDash(order.modelRef), 'order-model'],
    ['Polygons', orDash(order.polygonCount)],
    ['Price', price(order), 'order-price'],
    ['Created', time(order.createdAt)],
    ['Updated', time(order.updatedAt)],
  ];
  const list = fields
    .map(
      ([label, value, testId]) =>
        `<dt>${label}</dt><dd${testId ? ` data-testid="${testId}"` : ''}>${value}</dd>`,
    )
    .join('\n');
  return page(
    200,
    `Order #${order.id}`,
    `${viewer ? signedIn(viewer) : ''}<p><a href="${escapeHtml(listHref(viewer))}">Back to the new orders</a></p>`,
    `<dl data-testid="order" data-order-id="${order.id}">\n${list}\n</dl>`,
  );
}

const TITLES: Readonly<Record<number, string>> = {
  400: 'Bad request',
  404: 'Not found',
  405: 'Method not allowed',
  500: 'Something went wrong',
  502: 'The orders list is unavailable',
  503: 'The MES is unavailable',
};

/** An error of a page, as a page: what went wrong, its code, and the way back. */
export function errorPage(failure: Failure): Reply {
  const reply = page(
    failure.status,
    TITLES[failure.status] ?? `Error ${failure.status}`,
    '<p><a href="/operators">Back to the new orders</a></p>',
    `<p class="notice" data-testid="error" data-error-code="${escapeHtml(failure.code)}">${escapeHtml(failure.message)}</p>`,
  );
  return { ...reply, headers: { ...reply.headers, ...failure.headers } };
}
