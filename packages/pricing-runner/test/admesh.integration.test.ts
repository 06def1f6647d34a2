// Volumes against admesh (Debian package), an independent implementation that accumulates in
// float32: within 1e-3 relative on the files admesh reads. admesh runs as a process on the
// same files, as an operator would run it.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureInstalled, locate } from '@meskit/services';
import { analyzeMesh } from '../dist/index.js';
import { binaryStl, inverted, merge, torus, uvSphere, type TestMesh } from './meshes.js';

let admesh: string;
const dir = mkdtempSync(join(tmpdir(), 'meskit-admesh-'));

beforeAll(() => {
  ensureInstalled(['admesh'], (line) => process.stderr.write(`${line}\n`));
  admesh = locate('admesh');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * admesh's "Volume" of a file, with --exact (edge matching) and --normal-values (normals
 * recomputed from the vertex order: admesh's volume uses the stored normals, and these files
 * store zero normals, as many exporters do). Not its default set: that also "fixes" normal
 * directions, which would turn the inward-facing inner shell of a hollow part outward and
 * report the volume of both spheres instead of the material between them.
 */
function admeshVolume(file: string): number {
  const result = spawnSync(admesh, ['--exact', '--normal-values', file], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`admesh failed: ${result.stderr}`);
  const match = /Volume\s*:\s*([-\d.eE+]+)/.exec(result.stdout);
  if (!match) throw new Error(`no volume in admesh output:\n${result.stdout}`);
  return Number(match[1]);
}

const shapes: [string, TestMesh][] = [
  ['UV sphere r=5', uvSphere(5, 48, 96)],
  ['ring (torus) R=10 r=1.5', torus(10, 1.5, 96, 48)],
  [
    'hollow shell: sphere r=8 with an inward-facing sphere r=6',
    merge(uvSphere(8, 48, 96), inverted(uvSphere(6, 32, 64))),
  ],
];

describe('volumes agree with admesh', () => {
  for (const [name, mesh] of shapes) {
    it(`within 1e-3 relative: ${name}`, () => {
      const file = join(dir, `${name.replace(/\W+/g, '-')}.stl`);
      writeFileSync(file, binaryStl(mesh));
      const ours = analyzeMesh(readFileSync(file)).volume;
      const theirs = admeshVolume(file);
      expect(theirs).toBeGreaterThan(0);
      expect(Math.abs(ours - theirs) / theirs).toBeLessThan(1e-3);
    });
  }
});
