// The series the soak samples for every process, and how each is shown.

/** Plotted, and (but for the event-loop delay) gated. */
export const SERIES = ['rss', 'heap', 'fds', 'sockets', 'eldP99'] as const;
/** Sampled alongside to tell where memory goes (V8's reserved heap, Buffers, worker threads). */
export const EXTRA_SERIES = ['heapTotal', 'external', 'threads'] as const;
export type PlottedSeriesName = (typeof SERIES)[number];
export type ExtraSeriesName = (typeof EXTRA_SERIES)[number];
export type SeriesName = PlottedSeriesName | ExtraSeriesName;

export interface SeriesInfo {
  /** Shown in the table and as the plot panel's title. */
  title: string;
  /** The unit shown; the raw values are bytes, counts and seconds. */
  unit: string;
  /** Raw value × scale = the value shown. */
  scale: number;
}

export const SERIES_INFO: Readonly<Record<SeriesName, SeriesInfo>> = {
  rss: { title: 'RSS', unit: 'MB', scale: 1e-6 },
  heap: { title: 'heap used', unit: 'MB', scale: 1e-6 },
  fds: { title: 'open file descriptors', unit: 'fds', scale: 1 },
  sockets: { title: 'sockets', unit: 'sockets', scale: 1 },
  eldP99: { title: 'event-loop delay p99', unit: 'ms', scale: 1e3 },
  heapTotal: { title: 'heap total', unit: 'MB', scale: 1e-6 },
  external: { title: 'external memory', unit: 'MB', scale: 1e-6 },
  threads: { title: 'threads', unit: 'threads', scale: 1 },
};

/** A raw value as shown: MB and ms with one decimal, counts whole (medians may end in .5). */
export function formatValue(name: SeriesName, raw: number | null): string {
  if (raw === null || !Number.isFinite(raw)) return 'n/a';
  const shown = raw * SERIES_INFO[name].scale;
  return Number.isInteger(shown) ? String(shown) : shown.toFixed(1);
}
