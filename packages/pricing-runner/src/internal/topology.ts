// Edge and connectivity analysis on welded triangle ids.
//
// Watertight means every undirected edge is used by exactly two faces that traverse it in
// opposite directions. Instead of a hash map of edges we build the directed-edge adjacency in
// CSR form (out- and in-neighbours of each vertex). Because welded ids follow file order, a
// vertex's neighbours have nearby ids and every pass walks memory almost sequentially.
// A linear-time exact test settles the common closed case; only when it fails are the lists
// sorted (O(d log d) per vertex, so a fan of huge degree is no O(d^2) trap) and every edge
// classified as boundary, misoriented or non-manifold.

import { scratchInt32 } from './scratch.js';

export interface Topology {
  /** Faces with a repeated vertex id (two corners at the same position). */
  collapsedFaces: number;
  /** Distinct undirected edges of the non-collapsed faces. */
  edges: number;
  /** Edges used by one face only: the mesh has a hole there. */
  boundaryEdges: number;
  /** Edges used by two faces in the same direction: normals flip across them. */
  misorientedEdges: number;
  /** Edges used by more than two faces. */
  nonManifoldEdges: number;
  /** Connected parts (faces connected through shared vertices). */
  shells: number;
  /** Distinct positions used by faces. */
  vertices: number;
}

/** `tri` holds `3 * triangles` vertex ids, each in `[0, vertexCount)`. */
export function analyzeTopology(tri: Int32Array, triangles: number, vertexCount: number): Topology {
  // Each loop is its own function: see the note in weld.ts about V8 and long functions.
  // Scratch arrays are reused across calls (scratch.ts); each is initialised here.
  const start = scratchInt32('topo.start', vertexCount + 1).fill(0);
  const used = new Uint8Array(vertexCount);
  const parent = scratchInt32('topo.parent', vertexCount);
  for (let v = 0; v < vertexCount; v++) parent[v] = v;
  const collapsedFaces = countCornersAndUnion(tri, triangles, start, used, parent);
  const { shells, vertices } = countShells(parent, used, vertexCount);

  prefixSum(start, vertexCount);
  // A face contributes one outgoing and one incoming edge at each of its corners, so the
  // in-lists and out-lists of a vertex have the same length and share `start`. They are
  // interleaved (out, in) so filling and checking a vertex touches one stream, not two.
  const corners = start[vertexCount]!;
  const pairs = scratchInt32('topo.pairs', 2 * corners);
  const fill = scratchInt32('topo.fill', vertexCount);
  fill.set(start.subarray(0, vertexCount));
  fillLists(tri, triangles, fill, pairs);

  if (isClosedAndConsistent(start, pairs, vertexCount)) {
    return {
      collapsedFaces,
      edges: corners / 2,
      boundaryEdges: 0,
      misorientedEdges: 0,
      nonManifoldEdges: 0,
      shells,
      vertices,
    };
  }
  // The exact classification, only for meshes that are not closed and consistent.
  const adj = new Int32Array(corners);
  for (let k = 0; k < corners; k++) adj[k] = pairs[2 * k]!;
  sortLists(start, adj, vertexCount);
  return { collapsedFaces, ...classifyEdges(start, adj, vertexCount), shells, vertices };
}

/**
 * Counts out-edges per vertex into start[v + 1], marks used vertices and joins each face's
 * corners in the union-find (one pass over the faces); returns the number of collapsed faces.
 */
function countCornersAndUnion(
  tri: Int32Array,
  triangles: number,
  start: Int32Array,
  used: Uint8Array,
  parent: Int32Array,
): number {
  let collapsed = 0;
  for (let t = 0; t < triangles; t++) {
    const a = tri[3 * t]!;
    const b = tri[3 * t + 1]!;
    const c = tri[3 * t + 2]!;
    used[a] = 1;
    used[b] = 1;
    used[c] = 1;
    union(parent, a, b);
    union(parent, a, c);
    if (a === b || b === c || a === c) {
      collapsed++;
      continue;
    }
    // Shifted by one so the prefix sum turns counts into start offsets in place.
    start[a + 1]!++;
    start[b + 1]!++;
    start[c + 1]!++;
  }
  return collapsed;
}

function countShells(
  parent: Int32Array,
  used: Uint8Array,
  vertexCount: number,
): { shells: number; vertices: number } {
  let shells = 0;
  let vertices = 0;
  for (let v = 0; v < vertexCount; v++) {
    if (used[v] === 0) continue;
    vertices++;
    if (parent[v] === v) shells++;
  }
  return { shells, vertices };
}

function prefixSum(start: Int32Array, vertexCount: number): void {
  for (let v = 0; v < vertexCount; v++) start[v + 1]! += start[v]!;
}

function fillLists(tri: Int32Array, triangles: number, fill: Int32Array, pairs: Int32Array): void {
  for (let t = 0; t < triangles; t++) {
    const a = tri[3 * t]!;
    const b = tri[3 * t + 1]!;
    const c = tri[3 * t + 2]!;
    if (a === b || b === c || a === c) continue;
    const fa = 2 * fill[a]!++;
    const fb = 2 * fill[b]!++;
    const fc = 2 * fill[c]!++;
    pairs[fa] = b;
    pairs[fa + 1] = c;
    pairs[fb] = c;
    pairs[fb + 1] = a;
    pairs[fc] = a;
    pairs[fc + 1] = b;
  }
}

/**
 * Exact test for the common case in linear time, no sorting: at every vertex v, the
 * out-neighbours must be distinct and be exactly the in-neighbours. Then count(v->x) =
 * count(x->v) <= 1 for all v, x: every edge is used exactly once in each direction, i.e. the
 * mesh is closed and consistently oriented. `mark[x]` holds v + 1 for an unmatched
 * out-neighbour of v and -(v + 1) once an in-neighbour consumed it, so a repeat on either
 * side is caught. (An order-independent hash sum of directed edges was tried as a cheaper
 * probabilistic test; hashing three corners per face cost more than this exact pass.)
 */
function isClosedAndConsistent(start: Int32Array, pairs: Int32Array, vertexCount: number): boolean {
  const mark = scratchInt32('topo.mark', vertexCount).fill(0);
  for (let v = 0; v < vertexCount; v++) {
    const lo = 2 * start[v]!;
    const hi = 2 * start[v + 1]!;
    const tag = v + 1;
    for (let k = lo; k < hi; k += 2) {
      const b = pairs[k]!;
      if (mark[b] === tag) return false;
      mark[b] = tag;
    }
    for (let k = lo + 1; k < hi; k += 2) {
      const a = pairs[k]!;
      if (mark[a] !== tag) return false;
      mark[a] = -tag;
    }
  }
  return true;
}

function sortLists(start: Int32Array, adj: Int32Array, vertexCount: number): void {
  for (let v = 0; v < vertexCount; v++) {
    const lo = start[v]!;
    const hi = start[v + 1]!;
    if (hi - lo > 1) sortRange(adj, lo, hi);
  }
}

/** The exact per-edge pass, run only when the fast test fails; lists must be sorted. */
function classifyEdges(
  start: Int32Array,
  adj: Int32Array,
  vertexCount: number,
): Pick<Topology, 'edges' | 'boundaryEdges' | 'misorientedEdges' | 'nonManifoldEdges'> {
  let edges = 0;
  let boundaryEdges = 0;
  let misorientedEdges = 0;
  let nonManifoldEdges = 0;
  for (let a = 0; a < vertexCount; a++) {
    const lo = start[a]!;
    const hi = start[a + 1]!;
    for (let k = lo; k < hi; k++) {
      const b = adj[k]!;
      if (k > lo && adj[k - 1] === b) continue; // a repeat of b, counted at its first occurrence
      let forward = 1;
      while (k + forward < hi && adj[k + forward] === b) forward++;
      const reverse = countIn(adj, start[b]!, start[b + 1]!, a);
      // An edge present in both directions is counted from its smaller end only.
      if (reverse > 0 && a > b) continue;
      edges++;
      if (forward === 1 && reverse === 1) continue;
      const uses = forward + reverse;
      if (uses === 1) boundaryEdges++;
      else if (uses === 2) misorientedEdges++;
      else nonManifoldEdges++;
    }
  }
  return { edges, boundaryEdges, misorientedEdges, nonManifoldEdges };
}

function find(parent: Int32Array, x: number): number {
  // Path halving: amortised near-constant, no recursion, no extra array.
  let p = parent[x]!;
  while (p !== x) {
    const gp = parent[p]!;
    parent[x] = gp;
    x = p;
    p = parent[x]!;
  }
  return x;
}

function union(parent: Int32Array, a: number, b: number): void {
  const ra = find(parent, a);
  const rb = find(parent, b);
  if (ra === rb) return;
  // The smaller id becomes the root: roots stay early in memory, trees stay shallow in
  // practice because ids follow file order.
  if (ra < rb) parent[rb] = ra;
  else parent[ra] = rb;
}

function sortRange(a: Int32Array, lo: number, hi: number): void {
  if (hi - lo > 24) {
    a.subarray(lo, hi).sort();
    return;
  }
  for (let i = lo + 1; i < hi; i++) {
    const v = a[i]!;
    let j = i - 1;
    while (j >= lo && a[j]! > v) {
      a[j + 1] = a[j]!;
      j--;
    }
    a[j + 1] = v;
  }
}

/** Occurrences of `value` in the sorted range `a[lo..hi)`. */
function countIn(a: Int32Array, lo: number, hi: number, value: number): number {
  if (hi - lo > 16) {
    let l = lo;
    let h = hi;
    while (l < h) {
      const m = (l + h) >>> 1;
      if (a[m]! < value) l = m + 1;
      else h = m;
    }
    lo = l;
  }
  let i = lo;
  while (i < hi && a[i]! < value) i++;
  let n = 0;
  while (i < hi && a[i] === value) {
    n++;
    i++;
  }
  return n;
}
