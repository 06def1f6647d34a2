import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { InvalidOptionError, createRouteNormalizer, normalizePath } from '../src/index.js';

const request = (url: string, method = 'GET'): IncomingMessage =>
  ({ url, method }) as IncomingMessage;

describe('normalizePath', () => {
  it.each([
    ['/', '/'],
    ['', '/'],
    ['/health', '/health'],
    ['/orders/42', '/orders/:id'],
    ['/orders/42/take?operator=7', '/orders/:id/take'],
    ['/api/v2/orders', '/api/v2/orders'],
    ['/orders/0b7c6f0e-2f4e-4d8a-9c1e-8a1f6f0d2b3c', '/orders/:id'],
    ['/models/5f1d7c2a9b3e4d6f8a0b1c2d', '/models/:id'],
    ['/orders/ORD-000123/items/7', '/orders/:id/items/:id'],
    ['/reports/2024-05-01', '/reports/:id'],
    [`/files/${'x'.repeat(60)}`, '/files/:id'],
    ['/orders/', '/orders/'],
    ['/a#fragment', '/a'],
    ['http://mes.local:8080/orders/9?x=1', '/orders/:id'],
    ['*', 'other'],
  ])('%s -> %s', (path, route) => {
    expect(normalizePath(path)).toBe(route);
  });
});

describe('createRouteNormalizer', () => {
  it('labels numeric and uuid segments as :id so one route covers every order', () => {
    const label = createRouteNormalizer();
    expect(label(request('/orders/1'), 200)).toBe('/orders/:id');
    expect(label(request('/orders/2'), 200)).toBe('/orders/:id');
  });

  it('caps distinct routes: past maxRoutes, new routes are "other" and known ones keep their label', () => {
    const label = createRouteNormalizer({ maxRoutes: 2 });
    expect(label(request('/a'), 200)).toBe('/a');
    expect(label(request('/b'), 200)).toBe('/b');
    expect(label(request('/c'), 200)).toBe('other');
    expect(label(request('/a'), 500)).toBe('/a');
  });

  it('never lets a 404 take a slot, so scanners cannot fill the cap', () => {
    const label = createRouteNormalizer({ maxRoutes: 2 });
    for (let i = 0; i < 50; i++)
      expect(label(request(`/wp-admin/probe${i}.php`), 404)).toBe('other');
    expect(label(request('/orders/1'), 200)).toBe('/orders/:id');
    // A known route answering 404 (an order that does not exist) keeps its route.
    expect(label(request('/orders/999'), 404)).toBe('/orders/:id');
  });

  it("uses the application's normaliser first and falls back to the built-in one on undefined", () => {
    const label = createRouteNormalizer({
      normalizeRoute: (path) => (path.startsWith('/legacy/') ? '/legacy/*' : undefined),
    });
    expect(label(request('/legacy/page.aspx?id=3'), 200)).toBe('/legacy/*');
    expect(label(request('/orders/5'), 200)).toBe('/orders/:id');
  });

  it('survives a throwing application normaliser', () => {
    const label = createRouteNormalizer({
      normalizeRoute: () => {
        throw new Error('bug in the app');
      },
    });
    expect(label(request('/orders/5'), 200)).toBe('/orders/:id');
  });

  it('still caps what the application normaliser returns', () => {
    const label = createRouteNormalizer({ maxRoutes: 1, normalizeRoute: (path) => path });
    expect(label(request('/x/1'), 200)).toBe('/x/1');
    expect(label(request('/x/2'), 200)).toBe('other');
  });

  it('rejects a maxRoutes below 1, naming the option', () => {
    expect(() => createRouteNormalizer({ maxRoutes: 0 })).toThrow(InvalidOptionError);
    expect(() => createRouteNormalizer({ maxRoutes: 0 })).toThrow(
      expect.objectContaining({
        code: 'INVALID_OPTION',
        component: 'createRouteNormalizer',
        option: 'maxRoutes',
      }),
    );
    expect(() => createRouteNormalizer({ maxRoutes: 0 })).toThrow(
      /option maxRoutes must be a whole number ≥ 1, got 0/,
    );
  });
});
