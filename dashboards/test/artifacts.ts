// Loads what dashboards/ ships (Grafana dashboards, Prometheus rule files and their promtool
// tests) and what documents it (docs/metrics.md, docs/runbooks/), for the tests beside this file.
// Every file in those folders is picked up, so a dashboard or rule file added later is checked
// without touching the tests.
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DASHBOARDS_DIR = join(REPO_ROOT, 'dashboards', 'grafana');
export const RULES_DIR = join(REPO_ROOT, 'dashboards', 'prometheus', 'rules');
export const RULE_TESTS_DIR = join(REPO_ROOT, 'dashboards', 'prometheus', 'tests');
export const METRICS_DOC = join(REPO_ROOT, 'docs', 'metrics.md');
export const RUNBOOKS_DIR = join(REPO_ROOT, 'docs', 'runbooks');

/**
 * Where runbook links point: a placeholder on a reserved domain (RFC 2606), replaced at deploy
 * time by wherever the repository is browsable (see dashboards/README.md). Each alert's
 * `runbook_url` is this base plus `docs/runbooks/<AlertName>.md`.
 */
export const RUNBOOK_BASE_URL = 'https://runbooks.meskit.example/';

/** Sections every runbook has, in this order (a responder scans for them under pressure). */
export const RUNBOOK_SECTIONS = ['Meaning', 'Impact', 'Diagnosis', 'Mitigation', 'Escalation'];

export function repoPath(path: string): string {
  return relative(REPO_ROOT, path);
}

function filesIn(dir: string, suffix: string): string[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith(suffix))
    .sort()
    .map((name) => join(dir, name));
}

// ---------------------------------------------------------------------------------------------
// Grafana dashboards (the parts of the classic JSON model the checks read)

export interface GrafanaTarget {
  expr?: string;
  refId?: string;
  datasource?: { type?: string; uid?: string };
  [key: string]: unknown;
}

export interface GrafanaPanel {
  id?: number;
  type?: string;
  title?: string;
  description?: string;
  datasource?: { type?: string; uid?: string } | string | null;
  gridPos?: { h: number; w: number; x: number; y: number };
  fieldConfig?: { defaults?: { unit?: string; [key: string]: unknown }; overrides?: unknown[] };
  targets?: GrafanaTarget[];
  panels?: GrafanaPanel[];
  collapsed?: boolean;
  [key: string]: unknown;
}

export interface GrafanaVariable {
  name: string;
  type: string;
  query?: string | { query?: string; [key: string]: unknown };
  definition?: string;
  datasource?: { type?: string; uid?: string } | string | null;
  current?: { value?: unknown; [key: string]: unknown };
  [key: string]: unknown;
}

export interface GrafanaDashboard {
  uid?: string;
  title?: string;
  schemaVersion?: number;
  tags?: string[];
  __inputs?: { name: string; type: string; pluginId?: string; [key: string]: unknown }[];
  templating?: { list?: GrafanaVariable[] };
  panels?: GrafanaPanel[];
  [key: string]: unknown;
}

export interface DashboardFile {
  path: string;
  dashboard: GrafanaDashboard;
}

export function loadDashboards(dir = DASHBOARDS_DIR): DashboardFile[] {
  return filesIn(dir, '.json').map((path) => ({
    path,
    dashboard: JSON.parse(readFileSync(path, 'utf8')) as GrafanaDashboard,
  }));
}

/** Every panel, including those inside rows (collapsed rows keep theirs in `panels`). */
export function allPanels(dashboard: GrafanaDashboard): GrafanaPanel[] {
  const out: GrafanaPanel[] = [];
  for (const panel of dashboard.panels ?? []) {
    out.push(panel);
    out.push(...(panel.panels ?? []));
  }
  return out;
}

/** The query text of a template variable: Grafana stores it as a string or as `{ query }`. */
export function variableQuery(variable: GrafanaVariable): string | undefined {
  return typeof variable.query === 'string' ? variable.query : variable.query?.query;
}

// ---------------------------------------------------------------------------------------------
// Prometheus rule files

export interface RecordingRule {
  record: string;
  expr: string;
  labels?: Record<string, string>;
}

export interface AlertingRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface RuleFile {
  path: string;
  groups: { name: string; interval?: string; rules: (RecordingRule | AlertingRule)[] }[];
}

export function loadRuleFiles(dir = RULES_DIR): RuleFile[] {
  return filesIn(dir, '.yml').map((path) => ({
    path,
    ...(parseYaml(readFileSync(path, 'utf8')) as Omit<RuleFile, 'path'>),
  }));
}

export function recordingRules(files: readonly RuleFile[]): RecordingRule[] {
  return files.flatMap((file) =>
    file.groups.flatMap((group) =>
      group.rules.filter((rule): rule is RecordingRule => 'record' in rule),
    ),
  );
}

export function alertingRules(files: readonly RuleFile[]): AlertingRule[] {
  return files.flatMap((file) =>
    file.groups.flatMap((group) =>
      group.rules.filter((rule): rule is AlertingRule => 'alert' in rule),
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// promtool unit-test files

export interface RuleTestFile {
  path: string;
  rule_files: string[];
  tests: {
    name?: string;
    alert_rule_test?: { alertname: string; eval_time: string; exp_alerts?: unknown[] | null }[];
  }[];
}

export function loadRuleTestFiles(dir = RULE_TESTS_DIR): RuleTestFile[] {
  return filesIn(dir, '.test.yml').map((path) => ({
    path,
    ...(parseYaml(readFileSync(path, 'utf8')) as Omit<RuleTestFile, 'path'>),
  }));
}

export function ruleFilePaths(dir = RULES_DIR): string[] {
  return filesIn(dir, '.yml');
}

export function ruleTestFilePaths(dir = RULE_TESTS_DIR): string[] {
  return filesIn(dir, '.test.yml');
}

// ---------------------------------------------------------------------------------------------
// docs/metrics.md

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'recorded';

export interface DocumentedMetric {
  name: string;
  type: MetricType;
  /** The `##` heading the row is under. */
  section: string;
}

/** The section that lists recording-rule series; its rows are of type `recorded`. */
export const RECORDING_SECTION = 'Recording rules';

/**
 * The metrics docs/metrics.md lists: every table row whose first cell is a backticked name.
 * Outside the recording section the second cell is the type.
 */
export function parseMetricsDoc(markdown: string): DocumentedMetric[] {
  const out: DocumentedMetric[] = [];
  let section = '';
  for (const line of markdown.split('\n')) {
    const heading = /^##\s+(.+?)\s*$/.exec(line);
    if (heading) {
      section = heading[1] as string;
      continue;
    }
    const row = /^\|\s*`([a-zA-Z_:][a-zA-Z0-9_:]*)`\s*\|([^|]*)\|/.exec(line);
    if (!row) continue;
    const name = row[1] as string;
    if (section.startsWith(RECORDING_SECTION)) {
      out.push({ name, type: 'recorded', section });
      continue;
    }
    const type = (row[2] as string).trim().toLowerCase();
    if (!['counter', 'gauge', 'histogram', 'summary'].includes(type)) {
      throw new Error(
        `docs/metrics.md: ${name} has type "${type}"; expected counter, gauge, histogram or summary`,
      );
    }
    out.push({ name, type: type as MetricType, section });
  }
  return out;
}

export function loadMetricsDoc(path = METRICS_DOC): DocumentedMetric[] {
  return parseMetricsDoc(readFileSync(path, 'utf8'));
}

/**
 * The series names a documented metric can be selected by. A classic histogram exists only as
 * its `_bucket`, `_count` and `_sum` series; a summary as itself plus `_count` and `_sum`.
 */
export function selectableNames(metric: DocumentedMetric): string[] {
  switch (metric.type) {
    case 'histogram':
      return [`${metric.name}_bucket`, `${metric.name}_count`, `${metric.name}_sum`];
    case 'summary':
      return [metric.name, `${metric.name}_count`, `${metric.name}_sum`];
    default:
      return [metric.name];
  }
}

// ---------------------------------------------------------------------------------------------
// docs/runbooks

export function runbookPaths(dir = RUNBOOKS_DIR): string[] {
  return filesIn(dir, '.md').filter((path) => !path.endsWith('README.md'));
}
