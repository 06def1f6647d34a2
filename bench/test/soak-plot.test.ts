// The soak's SVG: a well-formed XML document with a panel per series and a line per process
// and series, labels escaped, gaps kept as gaps.
import { describe, expect, it } from 'vitest';
import { growthWindows, type Point } from '../src/benches/soak/growth.js';
import { escapeXml, niceCeiling, renderSoakSvg, ticks } from '../src/benches/soak/plot.js';
import { SERIES } from '../src/benches/soak/series.js';

/**
 * Checks XML well-formedness as far as this writer can go wrong: one root, every element
 * closed in order, attributes quoted, no raw `<` or `&` outside markup and entities.
 * Returns the element names in document order.
 */
function checkXml(text: string): string[] {
  const body = text.replace(/^<\?xml [^?]*\?>\s*/, '');
  const names: string[] = [];
  const open: string[] = [];
  const token = /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|([^<]+)/gy;
  let roots = 0;
  let match: RegExpExecArray | null;
  while (token.lastIndex < body.length) {
    const at = token.lastIndex;
    match = token.exec(body);
    if (!match) throw new Error(`not well-formed at ${at}: ${body.slice(at, at + 60)}`);
    const [, closing, name, attributes, selfClosing, text_] = match;
    if (text_ !== undefined) {
      if (open.length === 0 && text_.trim() !== '') throw new Error('text outside the root');
      const bad = /&(?!(?:amp|lt|gt|quot|apos|#\d+);)/.exec(text_);
      if (bad) throw new Error(`raw & in text: ${text_.slice(0, 60)}`);
      continue;
    }
    if (/&(?!(?:amp|lt|gt|quot|apos|#\d+);)/.test(attributes ?? ''))
      throw new Error(`raw & in the attributes of <${name}>`);
    if (closing) {
      const top = open.pop();
      if (top !== name) throw new Error(`</${name}> closes <${top ?? 'nothing'}>`);
      continue;
    }
    names.push(name!);
    if (open.length === 0) roots += 1;
    if (!selfClosing) open.push(name!);
  }
  if (open.length > 0) throw new Error(`unclosed: ${open.join(', ')}`);
  if (roots !== 1) throw new Error(`${roots} root elements`);
  return names;
}

function attribute(tag: string, name: string): string | undefined {
  return new RegExp(`\\s${name}="([^"]*)"`).exec(tag)?.[1];
}

const windows = growthWindows(60, 120);
const line = (f: (t: number) => number | null): Point[] =>
  Array.from({ length: 37 }, (_, i) => ({ t: i * 5, value: f(i * 5) }));

const input = {
  title: 'soak <test> & friends',
  subtitle: '1 min warm-up + 2 min',
  processes: [
    { id: 'mes', label: 'MES with meskit', style: 'solid' as const },
    { id: 'bareMes', label: 'bare MES "baseline"', style: 'dashed' as const },
    { id: 'redis', label: 'Redis', style: 'thin' as const },
  ],
  series: {
    mes: {
      rss: line((t) => 100e6 + t * 1e4),
      heap: line(() => 30e6),
      fds: line(() => 40),
      sockets: line(() => 20),
      eldP99: line((t) => (t === 60 ? null : 0.011)),
    },
    bareMes: {
      rss: line(() => 60e6),
      heap: line(() => 12e6),
      fds: line(() => 25),
      sockets: line(() => 9),
      eldP99: line(() => 0.0105),
    },
    redis: { rss: line(() => 8e6), fds: line(() => 12), sockets: line(() => 8) },
  },
  windows,
};

describe('renderSoakSvg', () => {
  const svg = renderSoakSvg(input);

  it('writes a well-formed SVG document', () => {
    expect(svg.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<svg ')).toBe(true);
    const names = checkXml(svg);
    expect(names[0]).toBe('svg');
    expect(svg).toContain('xmlns="http://www.w3.org/2000/svg"');
  });

  it('has one panel per series and one line per process that has the series', () => {
    const panels = [...svg.matchAll(/<g class="panel" data-series="(\w+)">/g)].map((m) => m[1]);
    expect(panels).toEqual([...SERIES]);
    const paths = [...svg.matchAll(/<path [^>]*>/g)].map((m) => m[0]);
    const drawn = paths.map((tag) => attribute(tag, 'data-process'));
    // 5 series of the two MESes, 3 of Redis (no heap, no event-loop delay).
    expect(drawn.filter((id) => id === 'mes')).toHaveLength(5);
    expect(drawn.filter((id) => id === 'bareMes')).toHaveLength(5);
    expect(drawn.filter((id) => id === 'redis')).toHaveLength(3);
    for (const tag of paths)
      expect(attribute(tag, 'd')).toMatch(/^M[\d.]+ [\d.]+(?:[LM][\d.]+ [\d.]+)+$/);
  });

  it('escapes the title and the labels', () => {
    expect(svg).toContain('soak &lt;test&gt; &amp; friends');
    expect(svg).toContain('bare MES &quot;baseline&quot;');
    expect(svg).not.toContain('<test>');
  });

  it('leaves a gap where a sample is missing instead of drawing through it', () => {
    const eld = [...svg.matchAll(/<g class="panel" data-series="eldP99">[\s\S]*?<\/g>/g)][0]![0];
    const mesLine = /<path [^>]*data-process="mes"[^>]*>/.exec(eld)![0];
    expect(attribute(mesLine, 'd')!.match(/M/g)).toHaveLength(2);
  });

  it('marks the warm-up and both windows of comparison in every panel', () => {
    expect(svg.match(/class="warmup"/g)).toHaveLength(SERIES.length);
    expect(svg.match(/class="warmup-end"/g)).toHaveLength(SERIES.length);
    expect(svg.match(/class="window"/g)).toHaveLength(2 * SERIES.length);
    expect(svg).toContain('minutes since the start of the traffic');
    expect(svg).toContain('RSS (MB)');
    expect(svg).toContain('event-loop delay p99 (ms)');
  });

  it('still writes a valid document with no samples at all', () => {
    const empty = renderSoakSvg({ ...input, series: {} });
    checkXml(empty);
    expect(empty.match(/no samples/g)).toHaveLength(SERIES.length);
  });
});

describe('axes', () => {
  it('rounds an axis up to 1, 2, 2.5 or 5 times a power of ten', () => {
    expect([0.7, 1, 1.2, 2.2, 3, 7, 130, 0].map(niceCeiling)).toEqual([
      1, 1, 2, 2.5, 5, 10, 200, 1,
    ]);
  });

  it('ticks from 0 to at least the maximum', () => {
    expect(ticks(113)).toEqual([0, 50, 100, 150]);
    expect(ticks(40)).toEqual([0, 10, 20, 30, 40]);
    expect(ticks(0)).toEqual([0, 1]);
  });

  it('escapes the five XML specials', () => {
    expect(escapeXml(`<a href="x">&'`)).toBe('&lt;a href=&quot;x&quot;&gt;&amp;&apos;');
  });
});
