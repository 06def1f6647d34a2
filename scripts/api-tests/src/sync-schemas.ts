#!/usr/bin/env node
/**
 * npm run -s api:schemas
 *
 * Writes the schema variables of every collection in api/ again from their sources (the MES's
 * openapi.yaml, api/schemas/meskit.json), formatted by the repository's Prettier config.
 * Run it after changing either, or after a test script names a new `schema:` variable.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { format, resolveConfig } from 'prettier';
import { loadCollections } from './collections.js';
import { loadSchemaSources, syncSchemas } from './schemas.js';

const sources = loadSchemaSources();
let changed = 0;
for (const { name, file, collection } of loadCollections()) {
  const synced = syncSchemas(collection, sources);
  const config = (await resolveConfig(file)) ?? {};
  const text = await format(JSON.stringify(synced, null, 2), { ...config, filepath: file });
  if (text === readFileSync(file, 'utf8')) continue;
  writeFileSync(file, text);
  changed += 1;
  process.stdout.write(`${name}: schema variables written\n`);
}
process.stdout.write(`api:schemas: ${changed} collection(s) changed\n`);
