// Measures analyzeMesh on generated ~1M-triangle closed binary STLs (not a test: timings
// depend on the machine). Run after building: node packages/pricing-runner/examples/measure-speed.mjs
import { analyzeMesh } from '../dist/index.js';

function stl(positions, triangles) {
  const count = triangles.length / 3;
  const buf = Buffer.alloc(84 + 50 * count);
  buf.writeUInt32LE(count, 80);
  let o = 84;
  for (let t = 0; t < triangles.length; t += 3) {
    o += 12;
    for (let k = 0; k < 3; k++) {
      const v = 3 * triangles[t + k];
      buf.writeFloatLE(positions[v], o);
      buf.writeFloatLE(positions[v + 1], o + 4);
      buf.writeFloatLE(positions[v + 2], o + 8);
      o += 12;
    }
    o += 2;
  }
  return buf;
}

function sphere(rings, segments, r) {
  const p = [0, 0, r];
  for (let i = 1; i < rings; i++) {
    const th = (Math.PI * i) / rings;
    for (let j = 0; j < segments; j++) {
      const ph = (2 * Math.PI * j) / segments;
      p.push(r * Math.sin(th) * Math.cos(ph), r * Math.sin(th) * Math.sin(ph), r * Math.cos(th));
    }
  }
  p.push(0, 0, -r);
  const s = p.length / 3 - 1;
  const at = (i, j) => 1 + (i - 1) * segments + (j % segments);
  const t = [];
  for (let j = 0; j < segments; j++) t.push(0, at(1, j), at(1, j + 1));
  for (let i = 1; i < rings - 1; i++)
    for (let j = 0; j < segments; j++)
      t.push(at(i, j), at(i + 1, j), at(i + 1, j + 1), at(i, j), at(i + 1, j + 1), at(i, j + 1));
  for (let j = 0; j < segments; j++) t.push(at(rings - 1, j), s, at(rings - 1, j + 1));
  return stl(p, t);
}

function shuffled(buf) {
  // Same faces in random order: defeats the locality real exporters give us (worst case).
  const n = buf.readUInt32LE(80);
  const out = Buffer.from(buf);
  let seed = 1;
  const order = Uint32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    const j = seed % (i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  for (let i = 0; i < n; i++)
    buf.copy(out, 84 + 50 * i, 84 + 50 * order[i], 84 + 50 * order[i] + 50);
  return out;
}

// Wall time and the process's CPU time: on a shared machine the CPU time is the steadier
// figure (wall time also counts waiting for a core).
function time(fn, reps) {
  const wall = [];
  const cpu = [];
  for (let i = 0; i < reps; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    fn();
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  wall.sort((a, b) => a - b);
  cpu.sort((a, b) => a - b);
  return { median: wall[wall.length >> 1], min: wall[0], cpu: cpu[cpu.length >> 1] };
}

const files = { 'sphere 1M (file order)': sphere(708, 707, 10) };
files['sphere 1M (shuffled faces)'] = shuffled(files['sphere 1M (file order)']);
for (const [name, buf] of Object.entries(files)) {
  const r = analyzeMesh(buf);
  for (let i = 0; i < 3; i++) analyzeMesh(buf); // warm up
  const full = time(() => analyzeMesh(buf), 9);
  const geo = time(() => analyzeMesh(buf, { topology: false }), 15);
  console.log(
    `${name}: ${r.triangles} triangles, ${(buf.length / 1e6).toFixed(1)} MB, watertight=${r.watertight}, shells=${r.shells}\n` +
      `  full analysis     median ${full.median.toFixed(1)} ms (min ${full.min.toFixed(1)}, cpu ${full.cpu.toFixed(1)})\n` +
      `  geometry only     median ${geo.median.toFixed(1)} ms (min ${geo.min.toFixed(1)}, cpu ${geo.cpu.toFixed(1)}) = ${(buf.length / 1e6 / (geo.median / 1000)).toFixed(0)} MB/s`,
  );
}
