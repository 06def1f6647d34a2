export { formatTable, intOption } from './lib/bench.js';
export type { BenchContext, BenchResult, Benchmark } from './lib/bench.js';
export { createDatabase } from './lib/database.js';
export { mesMainPath, spawnMes } from './lib/mes-process.js';
export type { MesProcess } from './lib/mes-process.js';
export { percentile, round, sampleGet, summarize } from './lib/stats.js';
export type { LatencySummary } from './lib/stats.js';
