// The JSON schemas the collections validate answers with, kept in each collection as variables
// (`schema:<operationId>:<status>` from the MES's openapi.yaml, `schema:<name>` from
// api/schemas/meskit.json for meskit's own APIs), so the collections run on their own in
// Postman or newman. syncSchemas() derives them again; a test fails when they drift.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parse } from 'yaml';
import { API_DIR, scriptLines, type PostmanCollection, type PostmanItem } from './collections.js';

export const SCHEMA_PREFIX = 'schema:';

/** Where the schemas come from. */
export interface SchemaSources {
  /** The reference MES's OpenAPI document. */
  openapi: Record<string, unknown>;
  /** meskit's own schemas, by name. */
  own: Record<string, unknown>;
}

export function mesOpenApiFile(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('@meskit/reference-mes/package.json')), 'openapi.yaml');
}

export function ownSchemasFile(apiDir = API_DIR): string {
  return join(apiDir, 'schemas', 'meskit.json');
}

export function loadSchemaSources(apiDir = API_DIR): SchemaSources {
  return {
    openapi: parse(readFileSync(mesOpenApiFile(), 'utf8')) as Record<string, unknown>,
    own: JSON.parse(readFileSync(ownSchemasFile(apiDir), 'utf8')) as Record<string, unknown>,
  };
}

/** Every `'schema:...'` a script of the collection names, sorted. */
export function referencedSchemaKeys(collection: PostmanCollection): string[] {
  const keys = new Set<string>();
  const scan = (events: PostmanItem['event']): void => {
    for (const line of (events ?? []).flatMap(scriptLines)) {
      for (const match of line.matchAll(/['"`](schema:[A-Za-z0-9_.:-]+)['"`]/g))
        keys.add(match[1]!);
    }
  };
  scan(collection.event);
  const walk = (items: PostmanItem[]): void => {
    for (const item of items) {
      scan(item.event);
      if (item.item) walk(item.item);
    }
  };
  walk(collection.item);
  return [...keys].sort();
}

/**
 * The schema a variable holds, self-contained (references inlined, documentation keywords
 * dropped) for the Postman sandbox's validator (Ajv, draft-07).
 * - `schema:<operationId>:<status>`: the JSON answer of that operation in openapi.yaml.
 * - `schema:<name>`: the schema of that name in api/schemas/meskit.json.
 */
export function schemaFor(key: string, sources: SchemaSources): unknown {
  const parts = key.slice(SCHEMA_PREFIX.length).split(':');
  if (!key.startsWith(SCHEMA_PREFIX) || parts.some((part) => part === '')) {
    throw new Error(`${key}: a schema variable is schema:<operationId>:<status> or schema:<name>`);
  }
  if (parts.length === 1) {
    const schema = sources.own[parts[0]!];
    if (schema === undefined) throw new Error(`${key}: no schema "${parts[0]}" in meskit.json`);
    return inline(sources.own, schema, key);
  }
  if (parts.length !== 2) throw new Error(`${key}: too many ":" parts`);
  const [operationId, status] = parts as [string, string];
  const operation = findOperation(sources.openapi, operationId);
  if (!operation) throw new Error(`${key}: no operation "${operationId}" in openapi.yaml`);
  let response = (operation['responses'] as Record<string, unknown> | undefined)?.[status];
  if (response === undefined) throw new Error(`${key}: ${operationId} documents no ${status}`);
  response = resolveRef(sources.openapi, response, key);
  const content = (response as { content?: Record<string, { schema?: unknown }> }).content;
  const schema = content?.['application/json']?.schema;
  if (schema === undefined) throw new Error(`${key}: the ${status} of ${operationId} is not JSON`);
  return inline(sources.openapi, schema, key);
}

/** The collection with its schema variables derived again (others kept, in their order). */
export function syncSchemas(
  collection: PostmanCollection,
  sources: SchemaSources,
): PostmanCollection {
  const kept = (collection.variable ?? []).filter((v) => !v.key.startsWith(SCHEMA_PREFIX));
  const schemas = referencedSchemaKeys(collection).map((key) => ({
    key,
    value: JSON.stringify(schemaFor(key, sources)),
    type: 'string',
  }));
  return { ...collection, variable: [...kept, ...schemas] };
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

function findOperation(
  doc: Record<string, unknown>,
  operationId: string,
): Record<string, unknown> | undefined {
  const paths = (doc['paths'] ?? {}) as Record<string, Record<string, unknown>>;
  for (const item of Object.values(paths)) {
    for (const method of METHODS) {
      const operation = item[method] as Record<string, unknown> | undefined;
      if (operation?.['operationId'] === operationId) return operation;
    }
  }
  return undefined;
}

/** A `{ $ref: '#/...' }` replaced by what it points at (followed until it is not a reference). */
function resolveRef(doc: Record<string, unknown>, node: unknown, key: string, depth = 0): unknown {
  const ref = (node as { $ref?: unknown } | null)?.$ref;
  if (typeof ref !== 'string') return node;
  if (depth > 20) throw new Error(`${key}: $ref chain too long at ${ref}`);
  if (!ref.startsWith('#/')) throw new Error(`${key}: only local references, not ${ref}`);
  let target: unknown = doc;
  for (const raw of ref.slice(2).split('/')) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    target = (target as Record<string, unknown> | undefined)?.[part];
  }
  if (target === undefined) throw new Error(`${key}: ${ref} points at nothing`);
  return resolveRef(doc, target, key, depth + 1);
}

/** Keywords that only document: dropped to keep the variables short. */
const DOCUMENTATION = new Set(['description', 'examples', 'example', 'title', '$comment']);
/** Keywords whose value maps names to schemas (its keys are names, not keywords). */
const SCHEMA_MAPS = new Set(['properties', 'patternProperties', '$defs', 'definitions']);

function inline(
  doc: Record<string, unknown>,
  node: unknown,
  key: string,
  trail: string[] = [],
): unknown {
  if (Array.isArray(node)) return node.map((child) => inline(doc, child, key, trail));
  if (node === null || typeof node !== 'object') return node;
  const ref = (node as { $ref?: unknown }).$ref;
  if (typeof ref === 'string') {
    if (trail.includes(ref)) throw new Error(`${key}: ${ref} refers to itself; cannot inline it`);
    return inline(doc, resolveRef(doc, node, key), key, [...trail, ref]);
  }
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(node as Record<string, unknown>)) {
    if (DOCUMENTATION.has(name)) continue;
    if (SCHEMA_MAPS.has(name) && value !== null && typeof value === 'object') {
      out[name] = Object.fromEntries(
        Object.entries(value as Record<string, unknown>).map(([prop, schema]) => [
          prop,
          inline(doc, schema, key, trail),
        ]),
      );
      continue;
    }
    out[name] = inline(doc, value, key, trail);
  }
  return out;
}
