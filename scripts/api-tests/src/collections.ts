// The Postman collections and environments in api/: finding them, and reading each request's
// method, server and path template (for the route coverage test and the runner).
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** api/ at the repository root (this file runs from scripts/api-tests/dist or src). */
export const API_DIR = fileURLToPath(new URL('../../../api/', import.meta.url));

export const COLLECTION_SUFFIX = '.postman_collection.json';
export const ENVIRONMENT_SUFFIX = '.postman_environment.json';

/** Requests in a folder of this name probe what no route serves (404, 405) on purpose. */
export const UNROUTED_FOLDER = 'Unrouted';

export interface PostmanScript {
  type?: string;
  exec: string[] | string;
}

export interface PostmanEvent {
  listen: 'test' | 'prerequest';
  script: PostmanScript;
}

export interface PostmanUrl {
  raw: string;
  host?: string[];
  path?: string[];
  query?: Array<{ key: string; value: string | null; disabled?: boolean }>;
  variable?: Array<{ key: string; value: string }>;
}

export interface PostmanRequest {
  method: string;
  url: PostmanUrl | string;
  header?: Array<{ key: string; value: string }>;
  body?: unknown;
  auth?: unknown;
}

export interface PostmanItem {
  name: string;
  description?: string;
  item?: PostmanItem[];
  request?: PostmanRequest;
  event?: PostmanEvent[];
}

export interface PostmanVariable {
  key: string;
  value: string;
  type?: string;
  description?: string;
}

export interface PostmanCollection {
  info: { name: string; schema: string; _postman_id?: string; description?: string };
  item: PostmanItem[];
  variable?: PostmanVariable[];
  event?: PostmanEvent[];
  auth?: unknown;
}

export interface PostmanEnvironment {
  id?: string;
  name: string;
  values: Array<{ key: string; value: string; type?: string; enabled?: boolean }>;
  _postman_variable_scope?: string;
}

/** One request of a collection, as the route coverage test sees it. */
export interface CollectionRequest {
  /** The collection's short name (its file name without `.postman_collection.json`). */
  collection: string;
  /** Folder names, outermost first, then the request's own name. */
  trail: string[];
  method: string;
  /** The variable the URL starts with (`{{mesUrl}}` gives `mesUrl`); undefined if none. */
  server: string | undefined;
  /** The path, `:name` segments as `{name}` (OpenAPI style), without the query. */
  path: string;
  /** `pm.test(` calls in the request's test scripts. */
  tests: number;
  /** In the `Unrouted` folder: meant to name no route. */
  unrouted: boolean;
}

export interface LoadedCollection {
  name: string;
  file: string;
  collection: PostmanCollection;
}

/** Every `*.postman_collection.json` in `dir`, sorted by name (the order they run in). */
export function loadCollections(dir = API_DIR): LoadedCollection[] {
  return readdirSync(dir)
    .filter((file) => file.endsWith(COLLECTION_SUFFIX))
    .map((file) => ({
      name: basename(file, COLLECTION_SUFFIX),
      file: join(dir, file),
      collection: JSON.parse(readFileSync(join(dir, file), 'utf8')) as PostmanCollection,
    }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export function loadEnvironment(file: string): PostmanEnvironment {
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<PostmanEnvironment>;
  if (!Array.isArray(parsed.values)) {
    throw new Error(`${file} is not a Postman environment (no "values" array)`);
  }
  return {
    name: parsed.name ?? basename(file, ENVIRONMENT_SUFFIX),
    ...parsed,
  } as PostmanEnvironment;
}

/** The script lines of an event, whichever way the file spells them. */
export function scriptLines(event: PostmanEvent): string[] {
  const { exec } = event.script;
  return typeof exec === 'string' ? exec.split('\n') : exec;
}

/** Every request of the collection, depth first, in run order. */
export function requestsOf(loaded: LoadedCollection): CollectionRequest[] {
  const found: CollectionRequest[] = [];
  const walk = (items: PostmanItem[], folders: string[]): void => {
    for (const item of items) {
      if (item.item) {
        walk(item.item, [...folders, item.name]);
        continue;
      }
      if (!item.request) continue;
      const { server, path } = parseUrl(item.request.url);
      const tests = (item.event ?? [])
        .filter((event) => event.listen === 'test')
        .flatMap(scriptLines)
        .join('\n')
        .match(/\bpm\.test\(/g);
      found.push({
        collection: loaded.name,
        trail: [...folders, item.name],
        method: item.request.method.toUpperCase(),
        server,
        path,
        tests: tests?.length ?? 0,
        unrouted: folders.includes(UNROUTED_FOLDER),
      });
    }
  };
  walk(loaded.collection.item, []);
  return found;
}

/** `{{mesUrl}}/api/orders/:id/take?x=1` gives `mesUrl` and `/api/orders/{id}/take`. */
export function parseUrl(url: PostmanUrl | string): { server: string | undefined; path: string } {
  const raw = typeof url === 'string' ? url : url.raw;
  const match = /^\{\{([A-Za-z0-9_]+)\}\}([^?#]*)/.exec(raw);
  const server = match?.[1];
  const rest = match ? (match[2] ?? '') : raw.replace(/^[a-z]+:\/\/[^/]+/i, '').split(/[?#]/)[0]!;
  const path = rest
    .split('/')
    .map((segment) => segment.replace(/^:([A-Za-z][A-Za-z0-9]*)$/, '{$1}'))
    .join('/');
  return { server, path: path === '' ? '/' : path };
}
