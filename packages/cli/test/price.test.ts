// `meskit price`, run as the real binary on generated models and broken files.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { generateCubeStl, generateRingStl } from '@meskit/reference-mes';
import { LINGERING, STACK_TRACE, runMeskit, type BinResult } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'meskit-price-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: Uint8Array | string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

/** A real 1×1 PNG (signature, IHDR, IDAT, IEND), longer than an STL's 84-byte header. */
function pngBytes(): Buffer {
  const chunk = (type: string, data: Buffer): Buffer => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const framed = Buffer.alloc(body.length + 8);
    framed.writeUInt32BE(data.length, 0);
    body.copy(framed, 4);
    framed.writeUInt32BE(crc32(body), framed.length - 4);
    return framed;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(1, 0);
  header.writeUInt32BE(1, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // colour type: RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('tEXt', Buffer.from('Comment\0a photo of the ring, not its 3D model')),
    chunk('IDAT', deflateSync(Buffer.from([0, 0xd4, 0xaf, 0x37]))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

function expectClean(result: BinResult): void {
  expect(result.stdout + result.stderr).not.toMatch(STACK_TRACE);
  expect(result.stderr).not.toMatch(LINGERING);
}

interface PricedLine {
  file: string;
  triangles?: number;
  volume?: number;
  area?: number;
  watertight?: boolean;
  price?: { total: number; currency: string; alloy: string; items: { amount: number }[] } | null;
  priceError?: string;
  error?: { code: string; message: string };
}

describe('meskit price', () => {
  const cube = file('cube.stl', generateCubeStl({ sizeMm: 10 }));
  const ring = file('ring.stl', generateRingStl({ triangles: 5_000 }));

  it('prints one JSON object per file with the analysis and an itemised price', async () => {
    const result = await runMeskit(['price', '--json', '--alloy', 'silver-925', cube, ring]);
    expectClean(result);
    expect(result.code).toBe(0);
    const lines = result.stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as PricedLine);
    expect(lines.map((line) => line.file)).toEqual([cube, ring]);
    const [first, second] = lines;
    // A 10 mm cube: 12 triangles, 1000 mm³, 600 mm², closed.
    expect(first).toMatchObject({ triangles: 12, volume: 1000, area: 600, watertight: true });
    expect(first?.price).toMatchObject({ currency: 'EUR', alloy: 'silver-925' });
    const items = first?.price?.items.reduce((sum, item) => sum + item.amount, 0) ?? 0;
    expect(items).toBeCloseTo(first?.price?.total ?? Number.NaN, 2);
    expect(second?.watertight).toBe(true);
    expect(second?.price?.total).toBeGreaterThan(0);
  });

  it('prices the same model higher in platinum than in silver', async () => {
    const price = async (alloy: string) => {
      const result = await runMeskit(['price', '--json', '--alloy', alloy, cube]);
      return (JSON.parse(result.stdout) as PricedLine).price?.total ?? Number.NaN;
    };
    expect(await price('platinum-950')).toBeGreaterThan(await price('silver-925'));
  });

  it('reports a broken file with its error code and exits 1, still answering for the good ones', async () => {
    const truncated = file('truncated.stl', generateCubeStl({ sizeMm: 10 }).subarray(0, 120));
    const garbage = file('garbage.stl', 'not a model at all');
    const result = await runMeskit([
      'price',
      '--json',
      cube,
      truncated,
      garbage,
      join(dir, 'missing.stl'),
    ]);
    expectClean(result);
    expect(result.code).toBe(1);
    const lines = result.stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as PricedLine);
    expect(lines.map((line) => line.error?.code ?? 'ok')).toEqual([
      'ok',
      'TRUNCATED',
      'UNKNOWN_FORMAT',
      'ENOENT',
    ]);
  });

  it('reports a renamed PNG as UNKNOWN_FORMAT, not as a binary STL with an invented triangle count', async () => {
    const photo = file('x.stl', pngBytes());
    const result = await runMeskit(['price', photo]);
    expectClean(result);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`${photo}: UNKNOWN_FORMAT: the file is a PNG image`);
    expect(result.stdout).toMatch(/accepted formats are binary STL, ASCII STL, OBJ or 3MF/);
    expect(result.stdout).not.toMatch(/triangles/);
  });

  it('analyses but does not price an open mesh, and says why', async () => {
    // A cube with its last face (two triangles) missing: open, so its volume means nothing.
    const closed = generateCubeStl({ sizeMm: 10 });
    const open = Buffer.from(closed.subarray(0, 84 + 10 * 50));
    open.writeUInt32LE(10, 80);
    const result = await runMeskit(['price', '--json', file('open.stl', open)]);
    expectClean(result);
    expect(result.code).toBe(1);
    const line = JSON.parse(result.stdout) as PricedLine;
    expect(line).toMatchObject({ triangles: 10, watertight: false, price: null });
    expect(line.priceError).toMatch(/OPEN_MESH/);
  });

  it('refuses a file over --max-bytes and an unknown alloy', async () => {
    const tooBig = await runMeskit(['price', '--json', '--max-bytes', '100', cube]);
    expect(tooBig.code).toBe(1);
    expect((JSON.parse(tooBig.stdout) as PricedLine).error?.code).toBe('TOO_LARGE');
    const alloy = await runMeskit(['price', '--alloy', 'unobtainium', cube]);
    expectClean(alloy);
    expect(alloy.code).toBe(2);
    expect(alloy.stderr).toContain('unknown alloy "unobtainium"');
  });
});
