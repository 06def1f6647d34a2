export { defineBenchmark, formatTable, resolveBenchOptions } from './lib/bench.js';
export type { BenchContext, BenchOptions, BenchResult, Benchmark } from './lib/bench.js';
export { createDatabase } from './lib/database.js';
export { mesMainPath, spawnListening, spawnMes } from './lib/mes-process.js';
export type { MesProcess, SpawnOptions } from './lib/mes-process.js';
export { percentile, round, sampleGet, summarize } from './lib/stats.js';
export type { LatencySummary } from './lib/stats.js';
