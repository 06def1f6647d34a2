// The operators' pages as a test (or a browser) sees them, without a browser in the repo: a
// strict parser for the well-formed HTML the MES renders (a mismatched tag fails the test), the
// few DOM operations the page's script and the tests use, and the page's real inline script
// run in node:vm against that DOM, its relative fetch resolved against the page's own URL.
import { runInNewContext } from 'node:vm';

const VOID = new Set(['meta', 'link', 'br', 'hr', 'img', 'input']);
const RAW = new Set(['script', 'style']);
const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" };

function decode(text: string): string {
  return text.replace(/&(amp|lt|gt|quot|#39);/g, (_, name: string) => ENTITIES[name]!);
}

export class PageElement {
  readonly children: Array<PageElement | string> = [];
  readonly dataset: Record<string, string>;
  parent: PageElement | undefined;

  constructor(
    readonly tag: string,
    readonly attributes: Map<string, string>,
  ) {
    // Like the DOM's: data-order-id is dataset.orderId, and writing it writes the attribute.
    const camel = (name: string): string =>
      name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    const attr = (key: string): string =>
      `data-${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    this.dataset = new Proxy({} as Record<string, string>, {
      get: (_, key) => (typeof key === 'string' ? attributes.get(attr(key)) : undefined),
      set: (_, key, value) => {
        attributes.set(attr(String(key)), String(value));
        return true;
      },
      ownKeys: () =>
        [...attributes.keys()].filter((k) => k.startsWith('data-')).map((k) => camel(k.slice(5))),
    });
  }

  attr(name: string): string | undefined {
    return this.attributes.get(name);
  }

  get textContent(): string {
    return this.children.map((c) => (typeof c === 'string' ? c : c.textContent)).join('');
  }

  set textContent(text: string) {
    this.children.splice(0, this.children.length, text);
  }

  get disabled(): boolean {
    return this.attributes.has('disabled');
  }

  set disabled(value: boolean) {
    if (value) this.attributes.set('disabled', '');
    else this.attributes.delete('disabled');
  }

  get hidden(): boolean {
    return this.attributes.has('hidden');
  }

  set hidden(value: boolean) {
    if (value) this.attributes.set('hidden', '');
    else this.attributes.delete('hidden');
  }

  /** Selectors: `tag`, `[name]`, `[name="value"]`, `tag[name="value"]`. */
  matches(selector: string): boolean {
    const m = /^([a-z0-9]*)(?:\[([a-z-]+)(?:="([^"]*)")?\])?$/.exec(selector);
    if (!m) throw new Error(`selector not supported by the test DOM: ${selector}`);
    const [, tag, name, value] = m;
    if (tag && tag !== this.tag) return false;
    if (name === undefined) return true;
    const actual = this.attributes.get(name);
    return value === undefined ? actual !== undefined : actual === value;
  }

  closest(selector: string): PageElement | null {
    if (this.matches(selector)) return this;
    return this.parent?.closest(selector) ?? null;
  }

  querySelectorAll(selector: string): PageElement[] {
    const found: PageElement[] = [];
    const walk = (e: PageElement): void => {
      for (const child of e.children) {
        if (typeof child === 'string') continue;
        if (child.matches(selector)) found.push(child);
        walk(child);
      }
    };
    walk(this);
    return found;
  }

  querySelector(selector: string): PageElement | null {
    return this.querySelectorAll(selector)[0] ?? null;
  }

  /** The one element with `data-testid="<id>"` (throws when there is none or several). */
  byTestId(id: string): PageElement {
    const found = this.querySelectorAll(`[data-testid="${id}"]`);
    if (found.length !== 1)
      throw new Error(`expected one data-testid="${id}", found ${found.length}`);
    return found[0]!;
  }
}

/** Parses a whole page; throws on a tag closed out of order or left open. */
export function parsePage(html: string): PageElement {
  const root = new PageElement('#document', new Map());
  let current = root;
  const tag = /<(\/?)([a-zA-Z][a-zA-Z0-9]*)((?:\s+[a-zA-Z-]+(?:="[^"]*")?)*)\s*>|<!doctype html>/gi;
  let at = 0;
  for (let m = tag.exec(html); m; m = tag.exec(html)) {
    if (m.index > at) current.children.push(decode(html.slice(at, m.index)));
    at = tag.lastIndex;
    if (m[2] === undefined) continue; // the doctype
    const name = m[2].toLowerCase();
    if (m[1]) {
      if (current.tag !== name) throw new Error(`</${name}> closes <${current.tag}>`);
      current = current.parent!;
      continue;
    }
    const attributes = new Map<string, string>();
    for (const a of (m[3] ?? '').matchAll(/([a-zA-Z-]+)(?:="([^"]*)")?/g)) {
      attributes.set(a[1]!.toLowerCase(), decode(a[2] ?? ''));
    }
    const element = new PageElement(name, attributes);
    element.parent = current;
    current.children.push(element);
    if (RAW.has(name)) {
      const end = html.indexOf(`</${name}>`, at);
      if (end < 0) throw new Error(`<${name}> is never closed`);
      element.children.push(html.slice(at, end));
      at = tag.lastIndex = end + name.length + 3;
    } else if (!VOID.has(name)) {
      current = element;
    }
  }
  if (at < html.length) current.children.push(decode(html.slice(at)));
  if (current !== root) throw new Error(`<${current.tag}> is never closed`);
  return root;
}

/** What a click on a Take button did: the request the script sent, and the outcome it shows. */
export interface Take {
  request: { url: string; method: string; headers: Record<string, string>; body: unknown };
  status: number;
  outcome: string;
  message: string;
  linkHref: string | undefined;
  linkShown: boolean;
  buttonDisabled: boolean;
}

/**
 * Runs the page's inline script as a browser would at `pageUrl`, clicks the Take button of
 * order `orderId`, and resolves once the outcome is shown.
 */
export async function clickTake(pageUrl: string, html: string, orderId: number): Promise<Take> {
  const document = parsePage(html);
  const scripts = document.querySelectorAll('script');
  if (scripts.length !== 1) throw new Error(`expected one script, found ${scripts.length}`);
  const row = document.querySelector(`[data-order-id="${orderId}"]`);
  if (!row || !row.matches('[data-testid="order-row"]'))
    throw new Error(`no row of order ${orderId}`);
  const button = row.byTestId('take-button');
  let listener: ((event: { target: PageElement }) => Promise<void>) | undefined;
  let request: Take['request'] | undefined;
  let status = 0;
  const browserFetch = async (input: string, init: RequestInit): Promise<Response> => {
    const url = new URL(input, pageUrl).toString();
    request = {
      url,
      method: init.method ?? 'GET',
      headers: init.headers as Record<string, string>,
      body: JSON.parse(String(init.body)) as unknown,
    };
    const res = await fetch(url, init);
    status = res.status;
    return res;
  };
  const documentApi = {
    addEventListener: (type: string, fn: typeof listener) => {
      if (type === 'click') listener = fn;
    },
  };
  runInNewContext(scripts[0]!.textContent, { document: documentApi, fetch: browserFetch });
  if (!listener) throw new Error('the script registered no click listener');
  await listener({ target: button });
  if (!request) throw new Error('the click sent no request');
  const outcome = row.byTestId('take-outcome');
  const link = outcome.byTestId('take-link');
  return {
    request,
    status,
    outcome: outcome.dataset['outcome'] ?? '',
    message: outcome.byTestId('take-message').textContent,
    linkHref: link.attr('href'),
    linkShown: !link.hidden,
    buttonDisabled: button.disabled,
  };
}
