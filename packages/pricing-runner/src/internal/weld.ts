// Vertex welding: give every distinct position one integer id, so topology (edges, shells)
// can be computed on integers. Positions are compared exactly (bit-for-bit after folding -0
// into +0): exporters write a shared vertex with the very same bits in every face, and an
// epsilon weld would silently close real gaps, which is the opposite of an honest report.
//
// Ids are dense and in first-seen order. That order matters for speed: faces that are close
// in the file are close on the surface, so their ids are close and every later pass (CSR,
// union-find) walks memory almost sequentially. Binary STL (the hot path) uses the
// recent-vertex cache and partitioned dedupe described below; the indexed text formats use
// a plain open-addressing table (their parsing costs far more than the weld).

import { scratchInt32 } from './scratch.js';

const EMPTY_SLOT = -1;

// Random per process, like V8's own hash seed: a file cannot be crafted to make all its
// vertices collide (which would turn linear probing quadratic) without knowing it.
const SEED = (Math.random() * 0x1_0000_0000) | 0;

export function mix3(x: number, y: number, z: number): number {
  x ^= SEED;
  let h = Math.imul(x ^ (x >>> 16), 0x45d9f3b);
  h = (h ^ Math.imul(y ^ (y >>> 15), 0x9e3779b1)) | 0;
  h = (h ^ Math.imul(z ^ (z >>> 13), 0x85ebca77)) | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  return h;
}

function tableSizeFor(expectedVertices: number): number {
  // Load factor stays under 1/2 so linear probes are short.
  let size = 1024;
  while (size < expectedVertices * 2) size *= 2;
  return size;
}

// Size of the direct-mapped cache of recently seen vertices: 16K (hash, id) pairs, 128 KiB,
// which stays in L2 beside the data streaming through.
// A vertex is used by about six faces that are usually close together in the file, so
// nearly every repeat use is found there.
const RECENT_BITS = 14;
export const RECENT_SIZE = 1 << RECENT_BITS;
/** The cache slot is the top bits of the hash: `hash >>> RECENT_SHIFT`. */
export const RECENT_SHIFT = 32 - RECENT_BITS;

// Welding binary STL corners (the hot loop is weldBinaryStl in geometry.ts):
//
// Why not one big hash table: a good hash scatters, so with a million vertices every new
// vertex costs a cache and TLB miss, and that (not hashing) dominated at ~150 ms per million
// faces. Instead each corner is compared with the previous face's corners, then with the
// small cache of recent vertices, and otherwise gets a provisional id, its key appended to
// flat arrays, all in cache. `finishWeld` then finds provisional ids that share a position
// (vertices the cache forgot and met again) by partitioning them by hash and deduplicating
// each partition in cache. The result is exact: positions are compared word for word, the
// hash only groups candidates.

export function grownInt32(a: Int32Array): Int32Array {
  const next = new Int32Array(Math.max(16, a.length * 2));
  next.set(a);
  return next;
}

/**
 * Merges provisional ids with equal keys and rewrites `ids` in place to dense exact ids
 * (first-seen order). Returns the number of distinct positions.
 */
export function finishWeld(
  keys: Int32Array,
  hashes: Int32Array,
  n: number,
  ids: Int32Array,
): number {
  const canonical = findDuplicates(keys, hashes, n);
  if (canonical === null) return n;
  // A canonical id is the smallest of its group, so it has its final number by the time its
  // duplicates are reached.
  const final = scratchInt32('weld.final', n);
  const distinct = renumber(canonical, final, n);
  remap(ids, final);
  return distinct;
}

function renumber(canonical: Int32Array, final: Int32Array, n: number): number {
  let next = 0;
  for (let id = 0; id < n; id++) {
    const c = canonical[id]!;
    final[id] = c === id ? next++ : final[c]!;
  }
  return next;
}

function remap(ids: Int32Array, final: Int32Array): void {
  for (let i = 0; i < ids.length; i++) ids[i] = final[ids[i]!]!;
}

const PARTITION_BITS = 8;
const PARTITIONS = 1 << PARTITION_BITS;
const PARTITION_SHIFT = 32 - PARTITION_BITS;

// Each loop below is its own function on purpose: V8 optimises a long-running function by
// on-stack replacement of the loop that is hot, and a later loop in the same function then
// starts with no type feedback and deoptimises, repeatedly. Small single-loop functions get
// their own feedback and stay optimised.

/**
 * For each of the n keys, the smallest index with the same key, or null if all are distinct.
 * Cache-conscious: one counting pass and one stable scatter partition the (hash, id) pairs by
 * the hash's top bits into 256 partitions (few enough write streams for the caches and TLB);
 * each partition is then deduplicated with a small open-addressing table that stays in cache. Key words are read only
 * when two full 32-bit hashes are equal, i.e. almost only for true duplicates.
 */
function findDuplicates(keys: Int32Array, hashes: Int32Array, n: number): Int32Array | null {
  const start = partitionStarts(hashes, n);
  let largest = 0;
  for (let p = 0; p < PARTITIONS; p++) largest = Math.max(largest, start[p + 1]! - start[p]!);
  const partHash = scratchInt32('weld.partHash', n);
  const partId = scratchInt32('weld.partId', n);
  // Keys travel with their entries so comparisons inside a partition read nearby memory,
  // even when most entries are duplicates (faces in random order defeat the recent cache).
  const partKeys = scratchInt32('weld.partKeys', 3 * n);
  scatter(keys, hashes, n, start.slice(0, PARTITIONS), partHash, partId, partKeys);
  const size = tableSizeFor(largest);
  const table = scratchInt32('weld.table', size);
  // A slot is valid only when its stamp is the current partition: no clearing between them.
  const stamp = scratchInt32('weld.stamp', size).fill(-1);
  // Identity, written sequentially; partitions then only touch their duplicates.
  const canonical = identity(n);
  let duplicates = 0;
  for (let p = 0; p < PARTITIONS; p++) {
    duplicates += dedupePartition(
      partKeys,
      partHash,
      partId,
      start[p]!,
      start[p + 1]!,
      p,
      table,
      stamp,
      canonical,
    );
  }
  return duplicates === 0 ? null : canonical;
}

function identity(n: number): Int32Array {
  const canonical = scratchInt32('weld.canonical', n);
  for (let id = 0; id < n; id++) canonical[id] = id;
  return canonical;
}

function partitionStarts(hashes: Int32Array, n: number): Int32Array {
  const start = new Int32Array(PARTITIONS + 1);
  for (let id = 0; id < n; id++) start[(hashes[id]! >>> PARTITION_SHIFT) + 1]!++;
  for (let p = 0; p < PARTITIONS; p++) start[p + 1]! += start[p]!;
  return start;
}

function scatter(
  keys: Int32Array,
  hashes: Int32Array,
  n: number,
  fill: Int32Array,
  partHash: Int32Array,
  partId: Int32Array,
  partKeys: Int32Array,
): void {
  for (let id = 0; id < n; id++) {
    const hash = hashes[id]!;
    const at = fill[hash >>> PARTITION_SHIFT]!++;
    partHash[at] = hash;
    partId[at] = id;
    partKeys[3 * at] = keys[3 * id]!;
    partKeys[3 * at + 1] = keys[3 * id + 1]!;
    partKeys[3 * at + 2] = keys[3 * id + 2]!;
  }
}

/** Sets canonical[id] for the partition's entries; returns how many were duplicates. */
function dedupePartition(
  partKeys: Int32Array,
  partHash: Int32Array,
  partId: Int32Array,
  lo: number,
  hi: number,
  partition: number,
  table: Int32Array,
  stamp: Int32Array,
  canonical: Int32Array,
): number {
  const mask = table.length - 1;
  let duplicates = 0;
  for (let i = lo; i < hi; i++) {
    const hash = partHash[i]!;
    let slot = hash & mask;
    for (;;) {
      if (stamp[slot] !== partition) {
        stamp[slot] = partition;
        table[slot] = i;
        break;
      }
      const j = table[slot]!;
      if (
        partHash[j] === hash &&
        partKeys[3 * j] === partKeys[3 * i] &&
        partKeys[3 * j + 1] === partKeys[3 * i + 1] &&
        partKeys[3 * j + 2] === partKeys[3 * i + 2]
      ) {
        // The scatter was stable and ids ascending, so the entry in the table (met first)
        // has the smaller id, and it is canonical: duplicates are never inserted.
        canonical[partId[i]!] = partId[j]!;
        duplicates++;
        break;
      }
      slot = (slot + 1) & mask;
    }
  }
  return duplicates;
}

/**
 * Welds float64 positions (the indexed formats: OBJ, 3MF, ASCII STL) by exact value.
 * Returns, for each input vertex, the id of its position; ids are dense from 0.
 */
export function weldPositions(
  positions: Float64Array,
  vertexCount: number,
): {
  remap: Int32Array;
  count: number;
} {
  // Fold the two float64 words of each coordinate into one 32-bit key word per axis for the
  // hash and the probe, and confirm with an exact float compare: equal doubles are equal.
  const welder = new Welder64(positions, vertexCount);
  const remap = new Int32Array(vertexCount);
  for (let i = 0; i < vertexCount; i++) remap[i] = welder.id(i);
  return { remap, count: welder.count };
}

class Welder64 {
  private readonly table: Int32Array;
  private readonly mask: number;
  /** Input vertex index of the first occurrence of each welded id. */
  private readonly firstOf: Int32Array;
  private readonly words: Int32Array;
  count = 0;

  constructor(
    private readonly positions: Float64Array,
    vertexCount: number,
  ) {
    const size = tableSizeFor(vertexCount);
    this.table = new Int32Array(size).fill(EMPTY_SLOT);
    this.mask = size - 1;
    this.firstOf = new Int32Array(Math.max(1, vertexCount));
    this.words = new Int32Array(positions.buffer, positions.byteOffset, positions.length * 2);
  }

  id(i: number): number {
    const p = this.positions;
    const w = this.words;
    const x = p[3 * i]!;
    const y = p[3 * i + 1]!;
    const z = p[3 * i + 2]!;
    // x + 0 turns -0 into +0 so both hash alike; equal compares below treat them equal too.
    const hx = x === 0 ? 0 : w[6 * i]! ^ w[6 * i + 1]!;
    const hy = y === 0 ? 0 : w[6 * i + 2]! ^ w[6 * i + 3]!;
    const hz = z === 0 ? 0 : w[6 * i + 4]! ^ w[6 * i + 5]!;
    let slot = mix3(hx, hy, hz) & this.mask;
    for (;;) {
      const id = this.table[slot]!;
      if (id === EMPTY_SLOT) break;
      const j = this.firstOf[id]!;
      if (p[3 * j] === x && p[3 * j + 1] === y && p[3 * j + 2] === z) return id;
      slot = (slot + 1) & this.mask;
    }
    const id = this.count++;
    this.firstOf[id] = i;
    this.table[slot] = id;
    return id;
  }
}
