// The collections and environments in api/ as files: Postman v2.1, every request tested, the
// schemas they validate with equal to their sources, environments complete.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  API_DIR,
  ENVIRONMENT_SUFFIX,
  loadCollections,
  loadEnvironment,
  parseUrl,
  requestsOf,
  type CollectionRequest,
} from '../src/collections.js';
import { loadSchemaSources, referencedSchemaKeys, syncSchemas } from '../src/schemas.js';
import { SERVERS } from '../src/servers.js';

const collections = loadCollections();
const requests = collections.flatMap(requestsOf);
const where = (r: CollectionRequest): string => `${r.collection}: ${r.trail.join(' / ')}`;

describe('the collections in api/', () => {
  it('are Postman v2.1 collections, one per API', () => {
    expect(collections.map((c) => c.name)).toEqual([
      'cache-proxy',
      'cache-proxy-admin',
      'health-and-metrics',
      'pricing',
      'reference-mes',
    ]);
    for (const { name, collection } of collections) {
      expect(collection.info.schema, name).toBe(
        'https://schema.getpostman.com/json/collection/v2.1.0/collection.json',
      );
    }
  });

  it('test every request with pm.test', () => {
    const untested = requests.filter((r) => r.tests === 0);
    expect(untested.map(where), 'requests whose test script has no pm.test').toEqual([]);
  });

  it('hold the schemas their sources give (npm run -s api:schemas writes them)', () => {
    const sources = loadSchemaSources();
    for (const { name, collection } of collections) {
      expect(syncSchemas(collection, sources).variable, name).toEqual(collection.variable);
    }
  });

  it("validate with the MES's OpenAPI schemas and meskit's own", () => {
    const keys = collections.flatMap(({ collection }) => referencedSchemaKeys(collection));
    expect(keys).toContain('schema:listOrders:200');
    expect(keys).toContain('schema:pricingQuote');
  });

  it('send the cube of api/fixtures/cube.stl as raw bodies too', () => {
    const cube = readFileSync(join(API_DIR, 'fixtures', 'cube.stl'), 'utf8');
    const holders = collections.filter(({ collection }) =>
      collection.variable?.some((v) => v.key === 'cubeStl'),
    );
    expect(holders.map((c) => c.name)).toEqual(['cache-proxy', 'pricing', 'reference-mes']);
    for (const { name, collection } of holders) {
      expect(collection.variable?.find((v) => v.key === 'cubeStl')?.value, name).toBe(cube);
    }
  });
});

describe('the environments in api/environments', () => {
  const variables = [...Object.keys(SERVERS), 'adminToken'].sort();
  const load = (name: string) =>
    loadEnvironment(join(API_DIR, 'environments', `${name}${ENVIRONMENT_SUFFIX}`));

  it.each(['local', 'staging'])('%s sets every server and the admin token', (name) => {
    const environment = load(name);
    expect(environment.values.map((v) => v.key).sort()).toEqual(variables);
    const token = environment.values.find((v) => v.key === 'adminToken');
    expect(token, 'the admin token is a secret, never in the file').toMatchObject({
      type: 'secret',
      value: '',
    });
  });

  it('staging names placeholder hosts the runner refuses until they are set', () => {
    const urls = load('staging').values.filter((v) => v.key.endsWith('Url'));
    for (const { key, value } of urls) expect(new URL(value).hostname, key).toMatch(/\.invalid$/);
  });
});

describe('parseUrl', () => {
  it('reads the server variable and the path template, :param as {param}', () => {
    expect(parseUrl('{{mesUrl}}/api/orders/:id/take?x=1')).toEqual({
      server: 'mesUrl',
      path: '/api/orders/{id}/take',
    });
    expect(parseUrl({ raw: '{{metricsUrl}}/metrics' })).toEqual({
      server: 'metricsUrl',
      path: '/metrics',
    });
    expect(parseUrl('{{mesUrl}}/api/orders/42').path).toBe('/api/orders/42');
    expect(parseUrl('http://127.0.0.1:8080/health')).toEqual({
      server: undefined,
      path: '/health',
    });
  });
});
