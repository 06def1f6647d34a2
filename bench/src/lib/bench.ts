/** What every benchmark reports: a human table and one JSON object (printed last). */
export interface BenchResult {
  /** Rows of [measure, value...]; the first row is the header. */
  table: (string | number)[][];
  /**
   * Machine-readable result; `ratios` holds meskit-vs-baseline ratios (grouped one level deep
   * where a benchmark measures several requests, e.g. otel's `ratios.take`).
   */
  json: {
    bench: string;
    ratios: Record<string, number | Record<string, number>>;
    [key: string]: unknown;
  };
}

/**
 * A benchmark's options: positive integers, `--name N` on the command line; an option whose
 * default is text takes any non-empty text instead (`--out DIR`).
 */
export type BenchOptions = Record<string, number | string>;

export interface BenchContext<O extends BenchOptions = BenchOptions> {
  /** Every option of the benchmark: given on the command line, or its default. */
  options: O;
  /** Progress lines (stderr). */
  log: (line: string) => void;
}

export interface Benchmark<O extends BenchOptions = BenchOptions> {
  name: string;
  description: string;
  /** Its options and their defaults; any other option is refused. */
  defaults: O;
  run(ctx: BenchContext<O>): Promise<BenchResult>;
}

/** Types a benchmark's options from its defaults. */
export function defineBenchmark<O extends BenchOptions>(bench: Benchmark<O>): Benchmark<O> {
  return bench;
}

/**
 * The benchmark's options from `--key value` pairs: each a positive integer (or, where the
 * default is text, non-empty text), unknown ones refused (a misspelt option must not silently
 * measure the defaults).
 */
export function resolveBenchOptions<O extends BenchOptions>(
  bench: Benchmark<O>,
  given: Readonly<Record<string, string | boolean>>,
): O {
  const options: BenchOptions = { ...bench.defaults };
  for (const [name, raw] of Object.entries(given)) {
    if (!Object.hasOwn(bench.defaults, name)) {
      const known = Object.keys(bench.defaults).map((key) => `--${key}`);
      throw new Error(`${bench.name} has no option --${name} (it takes ${known.join(', ')})`);
    }
    if (typeof bench.defaults[name] === 'string') {
      if (typeof raw !== 'string' || raw === '')
        throw new Error(`--${name} needs a value (its default: ${String(bench.defaults[name])})`);
      options[name] = raw;
      continue;
    }
    const value = Number(raw);
    if (!Number.isInteger(value) || value <= 0)
      throw new Error(`--${name} must be a positive integer (got ${String(raw)})`);
    options[name] = value;
  }
  return options as O;
}

/** Formats rows as an aligned text table. */
export function formatTable(rows: readonly (readonly (string | number)[])[]): string {
  const cells = rows.map((row) =>
    row.map((cell) => (typeof cell === 'number' ? formatNumber(cell) : cell)),
  );
  const widths = cells[0]!.map((_, column) =>
    Math.max(...cells.map((row) => (row[column] ?? '').length)),
  );
  return cells
    .map((row) =>
      row
        .map((cell, column) =>
          column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!),
        )
        .join('  '),
    )
    .join('\n');
}

function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value)) return value.toLocaleString('en-US');
  return value.toLocaleString('en-US', { maximumFractionDigits: Math.abs(value) < 10 ? 2 : 1 });
}
