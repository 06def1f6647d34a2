// openapi.yaml is hand-written: these checks keep it in step with the code.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { API_ERROR_CODES, MES_ROUTES, ORDER_STATUSES } from '../src/index.js';

const spec = readFileSync(new URL('../openapi.yaml', import.meta.url), 'utf8');

interface Operation {
  responses: Record<string, { content?: Record<string, unknown> }>;
}
const paths = (parse(spec) as { paths: Record<string, Record<string, Operation>> }).paths;

/** The items of the first YAML block list under `key:` found after `anchor`. */
function listAfter(anchor: string, key: string): string[] {
  const from = spec.indexOf(anchor);
  expect(from, anchor).toBeGreaterThanOrEqual(0);
  const start = spec.indexOf(`${key}:\n`, from) + key.length + 2;
  const items: string[] = [];
  for (const line of spec.slice(start).split('\n')) {
    const match = /^\s+- (\S+)$/.exec(line);
    if (!match) break;
    items.push(match[1]!);
  }
  return items;
}

describe('openapi.yaml', () => {
  it('lists exactly the API error codes', () => {
    expect(listAfter('ErrorDetail:', 'enum')).toEqual([...API_ERROR_CODES]);
  });

  it('lists exactly the order statuses, in lifecycle order', () => {
    expect(listAfter('OrderStatus:', 'enum')).toEqual([...ORDER_STATUSES]);
  });

  it.each([
    '/health',
    '/api/orders',
    '/api/orders/{id}',
    '/api/orders/{id}/take',
    '/api/orders/{id}/complete',
    '/api/orders/{id}/package',
    '/api/orders/{id}/ship',
    '/api/b2b/orders',
    '/api/operators',
    '/internal/stats',
    '/operators',
    '/operators/orders/{id}',
  ])('documents %s', (path) => {
    expect(spec).toContain(`\n  ${path}:\n`);
  });

  it('documents exactly the routes the MES serves (MES_ROUTES), method for method', () => {
    const documented = Object.entries(paths).flatMap(([path, operations]) =>
      Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`),
    );
    const served = MES_ROUTES.map((route) => `${route.method} ${route.path}`);
    expect(new Set(served).size).toBe(served.length);
    expect([...served].sort()).toEqual([...documented].sort());
  });

  it.each(['/operators', '/operators/orders/{id}'])(
    'documents %s as HTML, its errors included',
    (path) => {
      const responses = Object.entries(paths[path]!['get']!.responses);
      expect(responses.map(([status]) => status)).toEqual(
        expect.arrayContaining(
          path === '/operators' ? ['200', '400', '502'] : ['200', '400', '404'],
        ),
      );
      for (const [, response] of responses) {
        expect(Object.keys(response.content ?? {})).toEqual(['text/html']);
      }
    },
  );
});
