// The PromQL scanner behind the docs/metrics.md check: if it took a label name or a function
// for a metric, the check would cry wolf; if it missed a metric, the check would pass blind.
import { describe, expect, it } from 'vitest';
import { inlineRecordingRules, scanPromQL, selectedMetricNames } from './promql.js';

describe('selectedMetricNames', () => {
  it.each([
    ['up', ['up']],
    ['up == 0', ['up']],
    [
      'process_resident_memory_bytes{job=~"$job", instance=~"$instance"}',
      ['process_resident_memory_bytes'],
    ],
    // Functions, aggregations, grouping labels, durations and Grafana variables are not metrics.
    [
      'histogram_quantile(0.99, sum by (le, method, route) (rate(http_bucket{job=~"$job"}[$__rate_interval])))',
      ['http_bucket'],
    ],
    ['sum(rate(a_total[5m])) without (instance, le)', ['a_total']],
    ['count without (le) (b)', ['b']],
    ['topk(5, c) offset 1h', ['c']],
    ['max_over_time(d[1h:5m])', ['d']],
    ['e @ start()', ['e']],
    // Binary operators, vector matching and bool, in any letter case.
    ['f / on (job) group_left (version) g', ['f', 'g']],
    ['h > bool 0.25 AND ON(job) i UNLESS ignoring (le) j or k', ['h', 'i', 'j', 'k']],
    ['l atan2 m', ['l', 'm']],
    // Strings may contain anything: regexes, $1 back-references, braces, quotes.
    ['label_replace(n, "dst", "$1", "src", "(.*)\\\\{x}")', ['n']],
    ["o{route=~'/api/.+', status_code!~`5..`}", ['o']],
    // Numbers: exponents, hex, Inf and NaN.
    ['p * 1e3 + 0x1F - Inf + NaN + .5', ['p']],
    // Recording-rule names (with colons) are metric names.
    ['job:meskit_api_errors:ratio_rate1h / 0.001 > 14.4', ['job:meskit_api_errors:ratio_rate1h']],
    // A name given in a __name__ matcher.
    ['{__name__="q", job="mes"}', ['q']],
    // Comments.
    ['r # s is commented out\n+ t', ['r', 't']],
    // Grafana variables in their three spellings.
    ['u{job=~"${job:regex}"}[[interval]] + v[$__range]', ['u', 'v']],
    ['vector(1) + time() + scalar(w)', ['w']],
  ])('%s', (expr, names) => {
    expect(selectedMetricNames(expr)).toEqual(names);
  });

  it('reports selectors whose metric it cannot know', () => {
    expect(scanPromQL('count({__name__=~"nodejs_.+"})').unresolved).toEqual([
      '{__name__=~"nodejs_.+"}',
    ]);
    expect(scanPromQL('count({job="mes"})').unresolved).toEqual(['{job="mes"}']);
    expect(scanPromQL('up{job="mes"}').unresolved).toEqual([]);
  });

  it('rejects unbalanced expressions instead of guessing', () => {
    expect(() => scanPromQL('sum(rate(x{job="a}[5m]))')).toThrow(/unterminated string/);
    expect(() => scanPromQL('rate(x[5m)')).toThrow(/unbalanced "\["/);
  });
});

describe('inlineRecordingRules', () => {
  const recorded = new Map([
    ['job:req:rate5m', 'sum by (job) (rate(req_count[5m]))'],
    ['job:err:rate5m', 'sum by (job) (rate(req_count{code=~"5.."}[5m]))'],
    ['job:err:ratio_rate5m', 'job:err:rate5m / job:req:rate5m'],
  ]);

  it('replaces recorded series by their definitions, recursively', () => {
    expect(inlineRecordingRules('job:err:ratio_rate5m > 0.01', recorded)).toBe(
      '((sum by (job) (rate(req_count{code=~"5.."}[5m]))) / (sum by (job) (rate(req_count[5m])))) > 0.01',
    );
  });

  it('leaves scraped metrics alone', () => {
    expect(inlineRecordingRules('up == 0', recorded)).toBe('up == 0');
  });

  it('refuses a recorded series used with matchers or a range, which text cannot inline', () => {
    expect(() => inlineRecordingRules('job:req:rate5m{job="mes"}', recorded)).toThrow(
      /label matchers/,
    );
    expect(() => inlineRecordingRules('max_over_time(job:req:rate5m[1h])', recorded)).toThrow(
      /a range/,
    );
  });

  it('refuses a rule that refers to itself', () => {
    expect(() => inlineRecordingRules('a:b:c', new Map([['a:b:c', 'a:b:c + 1']]))).toThrow(
      /itself/,
    );
  });
});
