// A small PromQL scanner: enough to find which metrics an expression selects, and to inline
// recording rules into the expressions that read them. It is not a parser: it only has to
// tell a metric name apart from everything else an identifier can be in PromQL (a function
// or aggregation, a keyword, a label name in a grouping or matcher, a duration, a number,
// a string, a Grafana variable). Prometheus itself checks the syntax (see queries.ts).

/** A metric selected by name in an expression, with where its name is written. */
export interface MetricReference {
  readonly name: string;
  /** Offset of the name's first character; -1 for a name given in a `__name__` matcher. */
  readonly start: number;
  /** Offset just past the name. */
  readonly end: number;
}

export interface ScanResult {
  readonly references: readonly MetricReference[];
  /**
   * Selectors whose metric cannot be known from the text, e.g. `{__name__=~"nodejs_.+"}`.
   * They hide which metrics a query depends on, so the documentation check rejects them.
   */
  readonly unresolved: readonly string[];
}

// Keywords are case-insensitive in PromQL. The first group takes a label list in parentheses.
const GROUPING_KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
const OTHER_KEYWORDS = new Set(['bool', 'and', 'or', 'unless', 'offset', 'atan2']);
const AGGREGATIONS = new Set([
  'sum',
  'min',
  'max',
  'avg',
  'group',
  'stddev',
  'stdvar',
  'count',
  'count_values',
  'bottomk',
  'topk',
  'quantile',
  'limitk',
  'limit_ratio',
]);
const NUMBER_WORDS = new Set(['inf', 'nan']);

const IDENTIFIER = /[a-zA-Z_:][a-zA-Z0-9_:]*/y;
// Numbers (1, 0.25, .5, 1e3, 0x1F) and durations (5m, 1h30m): both start with a digit or a dot.
const NUMBER_OR_DURATION =
  /(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(?:[a-zA-Z][a-zA-Z0-9]*)*/y;
// Grafana variables: $name, ${name}, ${name:format}, [[name]] (the old syntax).
const GRAFANA_VARIABLE = /\$\{[^}]*\}|\$[a-zA-Z_]\w*|\[\[[^\]]*\]\]/y;

/** The metric names an expression selects, each once, in order of appearance. */
export function selectedMetricNames(expr: string): string[] {
  return [...new Set(scanPromQL(expr).references.map((ref) => ref.name))];
}

/** Scans an expression for metric selectors. Throws on unbalanced brackets or quotes. */
export function scanPromQL(expr: string): ScanResult {
  const references: MetricReference[] = [];
  const unresolved: string[] = [];
  let i = 0;
  while (i < expr.length) {
    const c = expr[i] as string;
    if (c === '#') {
      // A comment runs to the end of the line.
      const newline = expr.indexOf('\n', i);
      i = newline === -1 ? expr.length : newline + 1;
    } else if (c === '"' || c === "'" || c === '`') {
      i = skipString(expr, i);
    } else if (c === '$' || (c === '[' && expr[i + 1] === '[')) {
      i = matchAt(GRAFANA_VARIABLE, expr, i) ?? i + 1;
    } else if (c === '{') {
      // Label matchers belong to the metric name before them, or are a selector of their own.
      const end = closing(expr, i, '{', '}');
      const byName = nameMatchers(expr.slice(i + 1, end));
      references.push(...byName.names.map((name) => ({ name, start: -1, end: -1 })));
      unresolved.push(...byName.unresolved);
      const last = references.findLast((ref) => ref.start >= 0);
      const afterName = last !== undefined && expr.slice(last.end, i).trim() === '';
      if (!afterName && byName.names.length === 0 && byName.unresolved.length === 0) {
        // `{job="mes"}` alone selects every metric of the job.
        unresolved.push(expr.slice(i, end + 1));
      }
      i = end + 1;
    } else if (c === '[') {
      // A range or subquery: durations, a colon, maybe a Grafana variable. No metric inside.
      i = closing(expr, i, '[', ']') + 1;
    } else if (/[0-9.]/.test(c)) {
      i = matchAt(NUMBER_OR_DURATION, expr, i) ?? i + 1;
    } else if (/[a-zA-Z_:]/.test(c)) {
      const end = matchAt(IDENTIFIER, expr, i) as number;
      const word = expr.slice(i, end);
      i = classifyIdentifier(expr, word, i, end, references);
    } else {
      i++;
    }
  }
  return { references, unresolved };
}

/**
 * Replaces every reference to a recorded series by its defining expression, in parentheses,
 * recursively: the result reads only scraped metrics, so it can be evaluated on a Prometheus
 * that does not run the rules. Throws when a recorded series is used with matchers or a
 * range (`name{...}`, `name[5m]`), which cannot be inlined textually.
 */
export function inlineRecordingRules(
  expr: string,
  recorded: ReadonlyMap<string, string>,
  seen: readonly string[] = [],
): string {
  const refs = scanPromQL(expr).references.filter(
    (ref) => ref.start >= 0 && recorded.has(ref.name),
  );
  let out = expr;
  // Right to left, so earlier offsets stay valid while replacing.
  for (const ref of [...refs].sort((a, b) => b.start - a.start)) {
    if (seen.includes(ref.name)) {
      throw new Error(`recording rule ${ref.name} refers to itself through ${seen.join(' -> ')}`);
    }
    const after = expr.slice(ref.end).trimStart()[0];
    if (after === '{' || after === '[') {
      throw new Error(
        `cannot inline ${ref.name}: it is used with ${after === '{' ? 'label matchers' : 'a range'}; select it bare`,
      );
    }
    const definition = inlineRecordingRules(recorded.get(ref.name) as string, recorded, [
      ...seen,
      ref.name,
    ]);
    out = `${out.slice(0, ref.start)}(${definition.trim()})${out.slice(ref.end)}`;
  }
  return out;
}

function classifyIdentifier(
  expr: string,
  word: string,
  start: number,
  end: number,
  references: MetricReference[],
): number {
  const lower = word.toLowerCase();
  const next = nextNonSpace(expr, end);
  if (GROUPING_KEYWORDS.has(lower)) {
    // `by (job, le)`: the parenthesised list holds label names, not metrics.
    return expr[next] === '(' ? closing(expr, next, '(', ')') + 1 : end;
  }
  if (OTHER_KEYWORDS.has(lower) || NUMBER_WORDS.has(lower)) return end;
  // A name followed by `(` is a function or an aggregation (metric names never are).
  if (expr[next] === '(') return end;
  // `sum by (job) (...)`, `count without (le) (...)`.
  if (AGGREGATIONS.has(word)) {
    const following = expr
      .slice(next)
      .match(/^[a-zA-Z_]+/)?.[0]
      ?.toLowerCase();
    if (following === 'by' || following === 'without') return end;
  }
  references.push({ name: word, start, end });
  return end;
}

/** Metric names given in `__name__` matchers inside `{...}`. */
function nameMatchers(matchers: string): { names: string[]; unresolved: string[] } {
  const names: string[] = [];
  const unresolved: string[] = [];
  const pattern =
    /(?:^|,)\s*__name__\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)/g;
  for (const match of matchers.matchAll(pattern)) {
    const operator = match[1] as string;
    const value = (match[2] as string).slice(1, -1);
    if (operator === '=') names.push(value);
    else unresolved.push(`{__name__${operator}${match[2] as string}}`);
  }
  return { names, unresolved };
}

function skipString(expr: string, start: number): number {
  const quote = expr[start];
  let i = start + 1;
  while (i < expr.length) {
    if (expr[i] === '\\' && quote !== '`') i += 2;
    else if (expr[i] === quote) return i + 1;
    else i++;
  }
  throw new Error(`unterminated string starting at offset ${start} in: ${expr}`);
}

/** Offset of the bracket closing the one at `start`, skipping strings and nested pairs. */
function closing(expr: string, start: number, open: string, close: string): number {
  let depth = 0;
  let i = start;
  while (i < expr.length) {
    const c = expr[i];
    if (c === '"' || c === "'" || c === '`') {
      i = skipString(expr, i);
      continue;
    }
    if (c === open) depth++;
    else if (c === close && --depth === 0) return i;
    i++;
  }
  throw new Error(`unbalanced "${open}" at offset ${start} in: ${expr}`);
}

function nextNonSpace(expr: string, from: number): number {
  let i = from;
  while (i < expr.length && /\s/.test(expr[i] as string)) i++;
  return i;
}

function matchAt(pattern: RegExp, text: string, at: number): number | undefined {
  pattern.lastIndex = at;
  return pattern.exec(text) ? pattern.lastIndex : undefined;
}
