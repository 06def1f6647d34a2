// docs/metrics.md is the contract between the code that emits metrics and the dashboards and
// alerts that read them (docs/architecture.md): a query on a metric nobody documents is a
// query on a name that may not exist, or may be renamed without anyone noticing.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  METRICS_DOC,
  RECORDING_SECTION,
  loadMetricsDoc,
  loadRuleFiles,
  parseMetricsDoc,
  recordingRules,
} from './artifacts.js';
import { collectQueries, undocumentedMetricUses, type ShippedQuery } from './queries.js';

describe('docs/metrics.md', () => {
  const documented = loadMetricsDoc();

  it('lists every metric that a dashboard or a rule reads', () => {
    const queries = collectQueries();
    // Guard against a loader that silently finds nothing, which would make this test vacuous.
    expect(queries.filter((q) => q.kind === 'panel').length).toBeGreaterThan(10);
    expect(queries.filter((q) => q.kind === 'alert').length).toBeGreaterThan(0);
    expect(undocumentedMetricUses(queries, documented)).toEqual([]);
  });

  it('lists every recording rule in its recording section, and nothing else there', () => {
    const rules = recordingRules(loadRuleFiles()).map((rule) => rule.record);
    const listed = documented.filter((m) => m.type === 'recorded').map((m) => m.name);
    expect(listed.length).toBeGreaterThan(0);
    expect(new Set(listed)).toEqual(new Set(rules));
  });

  it('lists each name once', () => {
    const names = documented.map((m) => m.name);
    expect(names.filter((name, i) => names.indexOf(name) !== i)).toEqual([]);
  });

  it(`has a "${RECORDING_SECTION}" section`, () => {
    expect(readFileSync(METRICS_DOC, 'utf8')).toMatch(new RegExp(`^## ${RECORDING_SECTION}`, 'm'));
  });
});

describe('the undocumented-metric check', () => {
  const doc = [
    '## Application',
    '| metric | type | labels | unit | emitted by | meaning |',
    '|---|---|---|---|---|---|',
    '| `http_duration_seconds` | histogram | `route` | seconds | app | request time |',
    '| `up` | gauge | | | Prometheus | scrape health |',
    '## Recording rules',
    '| series | meaning |',
    '|---|---|',
    '| `job:http_requests:rate5m` | requests per second |',
  ].join('\n');
  const documented = parseMetricsDoc(doc);
  const query = (expr: string): ShippedQuery => ({ kind: 'panel', source: 'test', expr });

  it('accepts documented metrics, histogram series by their base name, and recorded series', () => {
    expect(
      undocumentedMetricUses(
        [
          query('histogram_quantile(0.9, sum by (le) (rate(http_duration_seconds_bucket[5m])))'),
          query('sum(rate(http_duration_seconds_count[5m])) / job:http_requests:rate5m'),
          query('up == 0'),
        ],
        documented,
      ),
    ).toEqual([]);
  });

  it('names the query and the metric that is not documented', () => {
    expect(
      undocumentedMetricUses(
        [query('rate(http_duration_seconds_count[5m]) / rate(http_requests_total[5m])')],
        documented,
      ),
    ).toEqual(['test: http_requests_total is not in docs/metrics.md']);
  });

  it('does not take a histogram base name for one of its series', () => {
    expect(undocumentedMetricUses([query('http_duration_seconds')], documented)).toEqual([
      'test: http_duration_seconds is not in docs/metrics.md',
    ]);
  });

  it('rejects selectors whose metrics cannot be named', () => {
    expect(undocumentedMetricUses([query('count({job="mes"})')], documented)).toEqual([
      'test: {job="mes"} selects metrics that cannot be checked; name them',
    ]);
  });

  it('refuses a row with an unknown type rather than skipping it', () => {
    expect(() => parseMetricsDoc('## A\n| `x` | countr | | | | |')).toThrow(/countr/);
  });
});
