// The model store: a folder standing in for the S3-compatible bucket the shop uploads to.
// A model reference (`modelRef`) is a relative path inside it.
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';

/** The absolute path of `modelRef`, or undefined if it would escape the store. */
export function resolveModelRef(modelDir: string, modelRef: string): string | undefined {
  if (modelRef === '' || isAbsolute(modelRef) || modelRef.includes('\0')) return undefined;
  const root = resolve(modelDir);
  const path = resolve(root, modelRef);
  const rel = relative(root, path);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return undefined;
  return path;
}

export async function readModel(modelDir: string, modelRef: string): Promise<Buffer> {
  const path = resolveModelRef(modelDir, modelRef);
  if (!path) throw new Error(`model reference "${modelRef}" is outside the model store`);
  return readFile(path);
}

/** Keeps a file name readable but harmless: letters, digits, dot, dash, underscore. */
export function sanitizeFilename(name: string): string | undefined {
  const base = name.split(/[\\/]/).pop() ?? '';
  const cleaned = base.replace(/[^A-Za-z0-9._-]/g, '_').slice(-100);
  return /^[._]*$/.test(cleaned) ? undefined : cleaned;
}

/** Stores an uploaded B2B model under a fresh name (uploads never overwrite each other). */
export async function saveModel(
  modelDir: string,
  folder: string,
  filename: string,
  data: Buffer,
): Promise<{ modelRef: string; remove: () => Promise<void> }> {
  const modelRef = [folder, `${randomUUID()}-${filename}`].join('/');
  const path = join(resolve(modelDir), ...modelRef.split('/'));
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, data, { flag: 'wx' });
  return { modelRef, remove: () => rm(path, { force: true }) };
}
