/** What every benchmark reports: a human table and one JSON object (printed last). */
export interface BenchResult {
  /** Rows of [measure, value...]; the first row is the header. */
  table: (string | number)[][];
  /** Machine-readable result; `ratios` holds meskit-vs-baseline ratios. */
  json: { bench: string; ratios: Record<string, number>; [key: string]: unknown };
}

export interface BenchContext {
  /** Options after the benchmark name, parsed as --key value / --flag. */
  options: Record<string, string | boolean>;
  /** Progress lines (stderr). */
  log: (line: string) => void;
}

export interface Benchmark {
  name: string;
  description: string;
  run(ctx: BenchContext): Promise<BenchResult>;
}

/** Reads a positive integer option, or its default. */
export function intOption(
  options: BenchContext['options'],
  name: string,
  fallback: number,
): number {
  const raw = options[name];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0)
    throw new Error(`--${name} must be a positive integer (got ${String(raw)})`);
  return value;
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
