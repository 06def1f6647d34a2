// Every PromQL query dashboards/ ships (dashboard panels, template variables, recording and
// alerting rules), and `evaluateAll`, which runs them against a real Prometheus.
//
// Two strengths of check:
// - valid (requireData: false): Prometheus accepts every query. This catches syntax errors,
//   functions the deployed Prometheus version lacks, and type errors (a range vector where an
//   instant vector is needed) that a text check cannot see.
// - with data (requireData: true): every query also returns series for the given job, which
//   needs that job scraped from a process running @meskit/otel-bootstrap with some traffic.
//   Recording rules are evaluated with the rules they read inlined, so the Prometheus does not
//   need to run the rules; an alert returning series would mean it fires, so for an alert the
//   check is that every metric it reads has data (recorded ones through their rules).
import {
  allPanels,
  selectableNames,
  type DocumentedMetric,
  loadDashboards,
  loadRuleFiles,
  recordingRules,
  repoPath,
  variableQuery,
} from './artifacts.js';
import { inlineRecordingRules, scanPromQL, selectedMetricNames } from './promql.js';

export type QueryKind = 'panel' | 'variable' | 'recording' | 'alert';

export interface ShippedQuery {
  kind: QueryKind;
  /** Where it is written, for messages: file, then panel/rule. */
  source: string;
  /** As written, with Grafana variables still in it. */
  expr: string;
  /**
   * Evaluated at one instant (rules, stat panels) rather than over a range (graphs). Grafana
   * sends a graph's query to /api/v1/query_range, which rejects what an instant query
   * accepts: a range vector (`up[5m]`) is an error there.
   */
  instant?: boolean;
}

/** Every query in the dashboards and rule files under dashboards/. */
export function collectQueries(): ShippedQuery[] {
  const queries: ShippedQuery[] = [];
  for (const { path, dashboard } of loadDashboards()) {
    const file = repoPath(path);
    for (const variable of dashboard.templating?.list ?? []) {
      const query = variableQuery(variable);
      if (variable.type === 'query' && query) {
        queries.push({
          kind: 'variable',
          source: `${file}: variable $${variable.name}`,
          expr: query,
        });
      }
    }
    for (const panel of allPanels(dashboard)) {
      for (const target of panel.targets ?? []) {
        if (typeof target.expr !== 'string') continue;
        queries.push({
          kind: 'panel',
          source: `${file}: panel "${panel.title ?? panel.id}" (${target.refId ?? '?'})`,
          expr: target.expr,
          instant: target['instant'] === true && target['range'] !== true,
        });
      }
    }
  }
  for (const file of loadRuleFiles()) {
    for (const group of file.groups) {
      for (const rule of group.rules) {
        const isRecording = 'record' in rule;
        queries.push({
          kind: isRecording ? 'recording' : 'alert',
          source: `${repoPath(file.path)}: ${isRecording ? rule.record : rule.alert}`,
          expr: rule.expr,
          instant: true,
        });
      }
    }
  }
  return queries;
}

/**
 * Each use of a metric that docs/metrics.md does not list, as `source: name` lines. Scraped
 * metrics may be listed in any section (a histogram by its base name); recording-rule series
 * only count when listed in the recording section. A selector whose metric cannot be read
 * from the text (`{__name__=~"..."}`, `{job="mes"}`) is reported too: it hides what it uses.
 */
export function undocumentedMetricUses(
  queries: readonly ShippedQuery[],
  documented: readonly DocumentedMetric[],
): string[] {
  const known = new Set(documented.flatMap((metric) => selectableNames(metric)));
  const problems: string[] = [];
  for (const query of queries) {
    let scan;
    try {
      scan = scanPromQL(metricExpression(query));
    } catch (err) {
      problems.push(`${query.source}: cannot scan the expression: ${(err as Error).message}`);
      continue;
    }
    for (const name of new Set(scan.references.map((ref) => ref.name))) {
      if (!known.has(name)) problems.push(`${query.source}: ${name} is not in docs/metrics.md`);
    }
    for (const selector of scan.unresolved) {
      problems.push(
        `${query.source}: ${selector} selects metrics that cannot be checked; name them`,
      );
    }
  }
  return problems;
}

/** A variable's `label_values(selector, label)` names a label, not a metric: scan the selector. */
function metricExpression(query: ShippedQuery): string {
  if (query.kind !== 'variable') return query.expr;
  const labelValues = LABEL_VALUES.exec(query.expr);
  return labelValues ? (labelValues[1] ?? '') : query.expr;
}

// label_values(label) or label_values(selector, label), as Grafana's Prometheus variables write it.
const LABEL_VALUES = /^\s*label_values\(\s*(?:(.+?)\s*,\s*)?([a-zA-Z_]\w*)\s*\)\s*$/s;

export interface VariableValues {
  /** Regex for `$job`. Default `.+`. */
  job?: string;
  /** Regex for `$instance`. Default `.+`. */
  instance?: string;
}

/**
 * What Grafana would send, for an expression with dashboard variables: `$job` and `$instance`
 * become regexes, the interval variables fixed durations. `$__rate_interval` is at least four
 * scrape intervals in Grafana; 1m covers any scrape interval up to 15 s.
 */
export function substituteVariables(expr: string, values: VariableValues = {}): string {
  const replacements: Record<string, string> = {
    job: values.job ?? '.+',
    instance: values.instance ?? '.+',
    __rate_interval: '1m',
    __interval: '1m',
    __range: '1h',
    __range_s: '3600',
    __range_ms: '3600000',
  };
  return expr.replace(
    /\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]/g,
    (whole, braced?: string, bare?: string, old?: string) => {
      const name = (braced ?? bare ?? old) as string;
      return replacements[name] ?? whole;
    },
  );
}

/** A `$name` left after substitution (`$1` in label_replace is not a variable). */
function unknownVariable(expr: string): string | undefined {
  return /\$\{?[a-zA-Z_]\w*\}?|\[\[\w+\]\]/.exec(expr)?.[0];
}

export interface EvaluateOptions extends VariableValues {
  /** Also require series (see the top of this file). */
  requireData: boolean;
  /** The queries to evaluate. Default: collectQueries(). */
  queries?: readonly ShippedQuery[];
  /** Evaluation time. Default: now. */
  time?: Date;
}

export interface QueryOutcome {
  query: ShippedQuery;
  /** What was sent to Prometheus. */
  promql: string;
  /** Series returned (label values for a variable). */
  series: number;
  /** Why the query fails the check; undefined when it passes. */
  problem?: string;
}

export interface EvaluationReport {
  outcomes: QueryOutcome[];
  /** One line per failing query: `source: problem`. Empty when all pass. */
  problems: string[];
}

interface ApiResponse {
  status: 'success' | 'error';
  errorType?: string;
  error?: string;
  data?: unknown;
}

interface VectorData {
  resultType: string;
  result: { metric: Record<string, string> }[];
}

/**
 * Evaluates every query against the Prometheus at `prometheusUrl` (instant queries at one
 * time) and reports each one that Prometheus rejects or, with `requireData`, that returns no
 * series for the job.
 */
export async function evaluateAll(
  prometheusUrl: string,
  options: EvaluateOptions,
): Promise<EvaluationReport> {
  const queries = options.queries ?? collectQueries();
  const time = String((options.time ?? new Date()).getTime() / 1000);
  const jobPattern = new RegExp(`^(?:${options.job ?? '.+'})$`);
  const recorded = new Map(
    recordingRules(loadRuleFiles()).map((rule) => [rule.record, rule.expr] as const),
  );
  const api = new PrometheusApi(prometheusUrl, time);

  const outcomes = await Promise.all(
    queries.map(async (query): Promise<QueryOutcome> => {
      const promql = substituteVariables(query.expr, options);
      const leftover = unknownVariable(promql);
      if (leftover !== undefined) {
        return { query, promql, series: 0, problem: `unknown dashboard variable ${leftover}` };
      }
      if (query.kind === 'variable') return evaluateVariable(api, query, promql, options);

      const asWritten = query.instant ? await api.query(promql) : await api.queryRange(promql);
      if (asWritten.status !== 'success') {
        return { query, promql, series: 0, problem: rejected(asWritten) };
      }
      const resultType = (asWritten.data as VectorData | undefined)?.resultType;
      if (query.instant && resultType !== 'vector' && resultType !== 'scalar') {
        // A rule must yield a vector (Prometheus refuses a matrix when it evaluates the rule).
        return {
          query,
          promql,
          series: 0,
          problem: `evaluates to a ${String(resultType)}, not a vector`,
        };
      }
      const series = vectorSeries(asWritten).length;
      if (!options.requireData) return { query, promql, series };

      switch (query.kind) {
        case 'panel':
          return series > 0
            ? { query, promql, series }
            : { query, promql, series, problem: 'no data' };
        case 'recording':
          return checkRecordingData(api, query, promql, recorded, jobPattern);
        case 'alert':
          return checkAlertInputs(api, query, promql, recorded, jobPattern, options.job ?? '.+');
      }
    }),
  );
  return {
    outcomes,
    problems: outcomes.flatMap((o) => (o.problem ? [`${o.query.source}: ${o.problem}`] : [])),
  };
}

async function evaluateVariable(
  api: PrometheusApi,
  query: ShippedQuery,
  promql: string,
  options: EvaluateOptions,
): Promise<QueryOutcome> {
  // What Grafana asks the labels API for a label_values() variable.
  const match = LABEL_VALUES.exec(promql);
  if (!match) {
    return {
      query,
      promql,
      series: 0,
      problem: 'unsupported variable query (expected label_values)',
    };
  }
  const [, selector, label] = match as unknown as [string, string | undefined, string];
  const response = await api.labelValues(label, selector);
  if (response.status !== 'success') {
    return { query, promql, series: 0, problem: rejected(response) };
  }
  const values = (response.data as string[] | undefined) ?? [];
  if (!options.requireData) return { query, promql, series: values.length };
  if (values.length === 0) return { query, promql, series: 0, problem: 'no values' };
  if (label === 'job' && options.job !== undefined) {
    const jobPattern = new RegExp(`^(?:${options.job})$`);
    if (!values.some((value) => jobPattern.test(value))) {
      return {
        query,
        promql,
        series: values.length,
        problem: `no value matches job ${options.job} (got ${values.join(', ')})`,
      };
    }
  }
  return { query, promql, series: values.length };
}

async function checkRecordingData(
  api: PrometheusApi,
  query: ShippedQuery,
  promql: string,
  recorded: ReadonlyMap<string, string>,
  jobPattern: RegExp,
): Promise<QueryOutcome> {
  let inlined;
  try {
    inlined = inlineRecordingRules(promql, recorded);
  } catch (err) {
    return { query, promql, series: 0, problem: (err as Error).message };
  }
  const response = await api.query(inlined);
  if (response.status !== 'success') {
    return { query, promql: inlined, series: 0, problem: `inlined: ${rejected(response)}` };
  }
  const series = vectorSeries(response).filter(
    (s) => s.metric['job'] === undefined || jobPattern.test(s.metric['job']),
  ).length;
  return series > 0
    ? { query, promql: inlined, series }
    : { query, promql: inlined, series, problem: `no data for job ${jobPattern.source}` };
}

async function checkAlertInputs(
  api: PrometheusApi,
  query: ShippedQuery,
  promql: string,
  recorded: ReadonlyMap<string, string>,
  jobPattern: RegExp,
  job: string,
): Promise<QueryOutcome> {
  const missing: string[] = [];
  for (const name of selectedMetricNames(promql)) {
    // A recorded input has data when its rule, inlined, does (the rules need not be loaded).
    const check = recorded.has(name)
      ? inlineRecordingRules(recorded.get(name) as string, recorded)
      : `{__name__=${JSON.stringify(name)}, job=~${JSON.stringify(job)}}`;
    const response = await api.query(check);
    const found =
      response.status === 'success' &&
      vectorSeries(response).some(
        (s) => s.metric['job'] === undefined || jobPattern.test(s.metric['job']),
      );
    if (!found) missing.push(name);
  }
  return missing.length === 0
    ? { query, promql, series: 0 }
    : { query, promql, series: 0, problem: `no data for its inputs ${missing.join(', ')}` };
}

function vectorSeries(response: ApiResponse): { metric: Record<string, string> }[] {
  const data = response.data as VectorData | undefined;
  // Scalars and strings have no series; every shipped query should be a vector.
  return data?.resultType === 'vector' || data?.resultType === 'matrix' ? data.result : [];
}

function rejected(response: ApiResponse): string {
  return `Prometheus rejected it: ${response.errorType ?? 'error'}: ${response.error ?? 'no message'}`;
}

/** The two Prometheus HTTP API calls the checks need. */
class PrometheusApi {
  readonly #base: string;
  readonly #time: string;

  constructor(url: string, time: string) {
    this.#base = url.replace(/\/+$/, '');
    this.#time = time;
  }

  /** An instant query, POSTed so that long expressions are not limited by URL length. */
  query(promql: string): Promise<ApiResponse> {
    return this.#call('/api/v1/query', { query: promql, time: this.#time });
  }

  /** A range query over the last 5 minutes, as a graph panel sends it. */
  queryRange(promql: string): Promise<ApiResponse> {
    const end = Number(this.#time);
    return this.#call('/api/v1/query_range', {
      query: promql,
      start: String(end - 300),
      end: this.#time,
      step: '15',
    });
  }

  labelValues(label: string, selector: string | undefined): Promise<ApiResponse> {
    const params = new URLSearchParams();
    if (selector !== undefined) params.append('match[]', selector);
    // Grafana limits label lookups to the dashboard's time range; an hour is plenty here.
    params.append('start', String(Number(this.#time) - 3600));
    params.append('end', this.#time);
    return this.#get(`/api/v1/label/${encodeURIComponent(label)}/values?${params.toString()}`);
  }

  async #call(path: string, form: Record<string, string>): Promise<ApiResponse> {
    const response = await fetch(`${this.#base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form).toString(),
    });
    return parseApiResponse(response, path);
  }

  async #get(pathAndQuery: string): Promise<ApiResponse> {
    return parseApiResponse(await fetch(`${this.#base}${pathAndQuery}`), pathAndQuery);
  }
}

async function parseApiResponse(response: Response, path: string): Promise<ApiResponse> {
  const text = await response.text();
  try {
    return JSON.parse(text) as ApiResponse;
  } catch {
    // Not the Prometheus API (a proxy error page, a wrong URL): say so instead of a JSON error.
    throw new Error(`${path} answered ${response.status} with non-JSON: ${text.slice(0, 200)}`);
  }
}
