// The soak's plot as a standalone SVG: one panel per series (RSS, heap, descriptors, sockets,
// event-loop delay p99), one line per process, the warm-up shaded and its end marked, the two
// windows the growth compares tinted. Written by hand: no plotting dependency for five panels.
import type { Point, Windows } from './growth.js';
import { SERIES, SERIES_INFO, type SeriesName } from './series.js';

export interface PlotProcess {
  id: string;
  label: string;
  /** Dashed: the baseline; thin: the servers; solid: meskit's processes. */
  style: 'solid' | 'dashed' | 'thin';
}

export interface PlotInput {
  title: string;
  /** A second line under the title (the run's settings). */
  subtitle?: string;
  processes: readonly PlotProcess[];
  /** Points by process id and series (raw values: bytes, counts, seconds). */
  series: Readonly<Record<string, Partial<Record<SeriesName, readonly Point[]>>>>;
  windows: Windows;
}

const WIDTH = 960;
const LEFT = 72;
const RIGHT = 24;
const TOP = 112;
const PANEL_HEIGHT = 150;
const PANEL_GAP = 64;
const PLOT_WIDTH = WIDTH - LEFT - RIGHT;
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#17becf'];

/** Escapes text for XML content and attribute values. */
export function escapeXml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** The smallest of 1, 2, 2.5, 5 × 10^n at or above `value` (1 for nothing to show). */
export function niceCeiling(value: number): number {
  if (!(value > 0) || !Number.isFinite(value)) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const m of [1, 2, 2.5, 5, 10])
    if (m * magnitude >= value * (1 - 1e-12)) return m * magnitude;
  return 10 * magnitude;
}

/** Axis ticks from 0 to at least `max`: about four steps of a nice size. */
export function ticks(max: number): number[] {
  const step = niceCeiling(max / 4);
  const out: number[] = [];
  for (let v = 0; v < max + step * 0.999; v += step) out.push(Number(v.toPrecision(12)));
  return out.length > 1 ? out : [0, step];
}

const num = (value: number): string => String(Math.round(value * 10) / 10);

function label(value: number): string {
  if (value === 0) return '0';
  if (Math.abs(value) >= 1000) return value.toLocaleString('en-US', { maximumFractionDigits: 0 });
  return String(Number(value.toPrecision(3)));
}

/** The SVG path of one line: a move wherever a sample is missing, so gaps stay gaps. */
function linePath(
  points: readonly Point[],
  x: (t: number) => number,
  y: (v: number) => number,
): string {
  let d = '';
  let pen = false;
  for (const p of points) {
    if (p.value === null || !Number.isFinite(p.value)) {
      pen = false;
      continue;
    }
    d += `${pen ? 'L' : 'M'}${num(x(p.t))} ${num(y(p.value))}`;
    pen = true;
  }
  return d;
}

function panel(
  input: PlotInput,
  name: SeriesName,
  top: number,
  x: (t: number) => number,
  xTicks: number[],
  color: (id: string) => string,
): string {
  const info = SERIES_INFO[name];
  const lines = input.processes.flatMap((p) => {
    const points = input.series[p.id]?.[name];
    return points && points.some((pt) => pt.value !== null) ? [{ p, points }] : [];
  });
  const max = Math.max(
    0,
    ...lines.flatMap(({ points }) =>
      points.flatMap((pt) => (pt.value === null ? [] : [pt.value * info.scale])),
    ),
  );
  const yTicks = ticks(max);
  const yMax = yTicks.at(-1)!;
  const y = (shown: number) => top + PANEL_HEIGHT - (shown / yMax) * PANEL_HEIGHT;
  const { windows } = input;
  const parts: string[] = [];
  parts.push(
    `<g class="panel" data-series="${name}">`,
    `<text class="panel-title" x="${LEFT}" y="${top - 10}">${escapeXml(`${info.title} (${info.unit})`)}</text>`,
    // Warm-up shaded, the two compared windows tinted.
    `<rect class="warmup" x="${num(x(0))}" y="${top}" width="${num(x(windows.warmupEndS) - x(0))}" height="${PANEL_HEIGHT}"/>`,
    `<rect class="window" x="${num(x(windows.first[0]))}" y="${top}" width="${num(x(windows.first[1]) - x(windows.first[0]))}" height="${PANEL_HEIGHT}"/>`,
    `<rect class="window" x="${num(x(windows.last[0]))}" y="${top}" width="${num(x(windows.last[1]) - x(windows.last[0]))}" height="${PANEL_HEIGHT}"/>`,
  );
  for (const v of yTicks)
    parts.push(
      `<line class="grid" x1="${LEFT}" x2="${LEFT + PLOT_WIDTH}" y1="${num(y(v))}" y2="${num(y(v))}"/>`,
      `<text class="tick" x="${LEFT - 6}" y="${num(y(v) + 4)}" text-anchor="end">${escapeXml(label(v))}</text>`,
    );
  for (const t of xTicks)
    parts.push(
      `<line class="axis" x1="${num(x(t))}" x2="${num(x(t))}" y1="${top + PANEL_HEIGHT}" y2="${top + PANEL_HEIGHT + 4}"/>`,
      `<text class="tick" x="${num(x(t))}" y="${top + PANEL_HEIGHT + 17}" text-anchor="middle">${escapeXml(label(t / 60))}</text>`,
    );
  parts.push(
    `<line class="warmup-end" x1="${num(x(windows.warmupEndS))}" x2="${num(x(windows.warmupEndS))}" y1="${top}" y2="${top + PANEL_HEIGHT}"/>`,
    `<rect class="frame" x="${LEFT}" y="${top}" width="${PLOT_WIDTH}" height="${PANEL_HEIGHT}"/>`,
  );
  for (const { p, points } of lines)
    parts.push(
      `<path class="line ${p.style}" data-process="${escapeXml(p.id)}" stroke="${color(p.id)}" d="${linePath(points, x, (v) => y(v * info.scale))}"/>`,
    );
  if (lines.length === 0)
    parts.push(
      `<text class="tick" x="${LEFT + PLOT_WIDTH / 2}" y="${top + PANEL_HEIGHT / 2}" text-anchor="middle">no samples</text>`,
    );
  parts.push('</g>');
  return parts.join('\n');
}

/** The whole plot as an SVG document. */
export function renderSoakSvg(input: PlotInput): string {
  const { windows } = input;
  const endS = Math.max(windows.endS, 1);
  const x = (t: number) => LEFT + (Math.min(Math.max(t, 0), endS) / endS) * PLOT_WIDTH;
  // Minute ticks, fewer on long runs.
  const minutes = endS / 60;
  const stepMinutes = minutes <= 15 ? 1 : niceCeiling(minutes / 15);
  const xTicks: number[] = [];
  for (let m = 0; m <= minutes + 1e-9; m += stepMinutes) xTicks.push(m * 60);
  const colorOf = new Map(input.processes.map((p, i) => [p.id, COLORS[i % COLORS.length]!]));
  const color = (id: string) => colorOf.get(id) ?? '#000000';
  const height = TOP + SERIES.length * (PANEL_HEIGHT + PANEL_GAP);

  const legend = input.processes
    .map((p, i) => {
      const lx = LEFT + (i % 4) * 215;
      const ly = 78 + Math.floor(i / 4) * 16;
      return [
        `<line class="line ${p.style}" stroke="${color(p.id)}" x1="${lx}" x2="${lx + 24}" y1="${ly - 4}" y2="${ly - 4}"/>`,
        `<text class="legend" x="${lx + 30}" y="${ly}">${escapeXml(p.label)}</text>`,
      ].join('\n');
    })
    .join('\n');
  const panels = SERIES.map((name, i) =>
    panel(input, name, TOP + 20 + i * (PANEL_HEIGHT + PANEL_GAP), x, xTicks, color),
  ).join('\n');
  const lastAxis = TOP + 20 + (SERIES.length - 1) * (PANEL_HEIGHT + PANEL_GAP) + PANEL_HEIGHT;

  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`,
    `<title>${escapeXml(input.title)}</title>`,
    '<style>',
    '.panel-title { font-weight: bold; }',
    '.tick, .legend, .note { fill: #333333; }',
    '.grid { stroke: #e5e5e5; stroke-width: 1; }',
    '.axis { stroke: #333333; stroke-width: 1; }',
    '.frame { fill: none; stroke: #999999; stroke-width: 1; }',
    '.warmup { fill: #f0f0f0; }',
    '.window { fill: #e8f1fb; }',
    '.warmup-end { stroke: #555555; stroke-width: 1; stroke-dasharray: 4 3; }',
    '.line { fill: none; stroke-width: 1.6; stroke-linejoin: round; }',
    '.line.dashed { stroke-dasharray: 6 3; }',
    '.line.thin { stroke-width: 1; opacity: 0.7; }',
    '</style>',
    '<rect x="0" y="0" width="100%" height="100%" fill="#ffffff"/>',
    `<text x="${LEFT}" y="22" font-size="15" font-weight="bold">${escapeXml(input.title)}</text>`,
    input.subtitle === undefined
      ? ''
      : `<text class="note" x="${LEFT}" y="40">${escapeXml(input.subtitle)}</text>`,
    legend,
    `<text class="note" x="${LEFT}" y="56">grey: the warm-up (dashed line: its end); blue: the two windows whose medians the growth compares</text>`,
    panels,
    `<text class="note" x="${LEFT + PLOT_WIDTH / 2}" y="${lastAxis + 36}" text-anchor="middle">minutes since the start of the traffic</text>`,
    '</svg>',
    '',
  ]
    .filter((line) => line !== '')
    .join('\n');
}
