// What a responder needs from every alert (a severity that routes it, a summary, a description
// and a runbook that exists), and what keeps the rule files honest: recorded series named by
// convention, read only if recorded, and every alert proven to fire by a promtool test.
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  REPO_ROOT,
  RUNBOOK_BASE_URL,
  RUNBOOK_SECTIONS,
  alertingRules,
  loadRuleFiles,
  loadRuleTestFiles,
  recordingRules,
  runbookPaths,
} from './artifacts.js';
import { selectedMetricNames } from './promql.js';

const files = loadRuleFiles();
const alerts = alertingRules(files);
const recordings = recordingRules(files);

describe('alerting rules', () => {
  it('exist for both SLOs, at both severities', () => {
    const bySlo = alerts.map((a) => `${a.labels?.['slo'] ?? '-'} ${a.labels?.['severity'] ?? '-'}`);
    expect(bySlo).toEqual(
      expect.arrayContaining([
        'new-orders-page-latency page',
        'new-orders-page-latency ticket',
        'api-availability page',
        'api-availability ticket',
      ]),
    );
  });

  it('have unique names', () => {
    const names = alerts.map((a) => a.alert);
    expect(names.filter((name, i) => names.indexOf(name) !== i)).toEqual([]);
  });

  it.each(alerts.map((a) => [a.alert, a] as const))(
    '%s routes, explains itself and links its runbook',
    (name, alert) => {
      // page wakes someone up; ticket waits for working hours (dashboards/README.md).
      expect(['page', 'ticket']).toContain(alert.labels?.['severity']);
      expect(alert.annotations?.['summary']?.trim()).toBeTruthy();
      expect(alert.annotations?.['description']?.trim()).toBeTruthy();
      expect(alert.annotations?.['runbook_url']).toBe(
        `${RUNBOOK_BASE_URL}docs/runbooks/${name}.md`,
      );
    },
  );

  it.each(alerts.map((a) => [a.alert] as const))('%s has a runbook with every section', (name) => {
    const path = join(REPO_ROOT, 'docs', 'runbooks', `${name}.md`);
    expect(existsSync(path), `docs/runbooks/${name}.md is missing`).toBe(true);
    const headings = [...readFileSync(path, 'utf8').matchAll(/^## (.+)$/gm)].map((m) =>
      m[1]?.trim(),
    );
    expect(headings.filter((h) => RUNBOOK_SECTIONS.includes(h as string))).toEqual(
      RUNBOOK_SECTIONS,
    );
  });

  it('have no runbook without an alert (a renamed alert leaves its old runbook behind)', () => {
    const names = new Set(alerts.map((a) => a.alert));
    expect(
      runbookPaths()
        .map((p) => basename(p, '.md'))
        .filter((n) => !names.has(n)),
    ).toEqual([]);
  });

  it('read only scraped metrics or series that a recording rule records', () => {
    const recorded = new Set(recordings.map((r) => r.record));
    const unrecorded = alerts.flatMap((alert) =>
      selectedMetricNames(alert.expr)
        .filter((name) => name.includes(':') && !recorded.has(name))
        .map((name) => `${alert.alert}: ${name}`),
    );
    expect(unrecorded).toEqual([]);
  });

  it('are each fired by at least one promtool test', () => {
    const fired = new Set(
      loadRuleTestFiles().flatMap((file) =>
        file.tests.flatMap((test) =>
          (test.alert_rule_test ?? [])
            .filter((t) => (t.exp_alerts ?? []).length > 0)
            .map((t) => t.alertname),
        ),
      ),
    );
    expect(alerts.map((a) => a.alert).filter((name) => !fired.has(name))).toEqual([]);
  });
});

describe('recording rules', () => {
  it('are named level:metric:operations', () => {
    expect(recordings.length).toBeGreaterThan(0);
    expect(
      recordings
        .map((r) => r.record)
        .filter((name) => !/^[a-z_]+:[a-z0-9_]+:[a-z0-9_]+$/.test(name)),
    ).toEqual([]);
  });

  it('are recorded once each', () => {
    const names = recordings.map((r) => r.record);
    expect(names.filter((name, i) => names.indexOf(name) !== i)).toEqual([]);
  });

  it('read only series recorded earlier in the same group (rules in a group run in order)', () => {
    const problems: string[] = [];
    for (const file of files) {
      for (const group of file.groups) {
        const earlier = new Set<string>();
        for (const rule of group.rules) {
          if (!('record' in rule)) continue;
          for (const name of selectedMetricNames(rule.expr)) {
            if (name.includes(':') && !earlier.has(name))
              problems.push(`${rule.record} reads ${name}`);
          }
          earlier.add(rule.record);
        }
      }
    }
    expect(problems).toEqual([]);
  });
});
