// What makes a dashboard in dashboards/grafana importable and usable by anyone, as rules a
// test can check: the conventions in dashboards/README.md.
import { allPanels, variableQuery, type DashboardFile, type GrafanaPanel } from './artifacts.js';

/** The datasource every panel and query uses: the `datasource` template variable. */
export const DATASOURCE_REF = '${datasource}';

// Variables Grafana defines itself; any other `$name` must be a template variable.
const BUILT_IN_VARIABLES = new Set([
  '__rate_interval',
  '__interval',
  '__interval_ms',
  '__range',
  '__range_s',
  '__range_ms',
  '__dashboard',
  '__from',
  '__to',
]);

const GRID_COLUMNS = 24;

/** Every way `file` breaks the conventions, one message each; empty when it follows them. */
export function dashboardProblems(file: DashboardFile): string[] {
  const { dashboard } = file;
  const problems: string[] = [];
  const say = (message: string) => problems.push(message);

  if (!dashboard.uid || dashboard.uid.length > 40) say('uid missing or longer than 40 characters');
  if (!dashboard.uid?.startsWith('meskit-')) say('uid does not start with "meskit-"');
  if (!dashboard.title) say('title missing');
  if (!dashboard.tags?.includes('meskit'))
    say('not tagged "meskit" (dashboard links find each other by it)');
  if (typeof dashboard.schemaVersion !== 'number' || dashboard.schemaVersion < 36) {
    say('schemaVersion missing or older than 36 (Grafana 9)');
  }
  if (
    (dashboard as { id?: unknown }).id !== null &&
    (dashboard as { id?: unknown }).id !== undefined
  ) {
    say('id is set: an import would overwrite whichever dashboard has that id; use null');
  }

  // The datasource is chosen at import (__inputs) and switchable afterwards (the variable).
  const input = dashboard.__inputs?.find(
    (i) => i.type === 'datasource' && i.pluginId === 'prometheus',
  );
  if (!input) say('no __inputs entry for a Prometheus datasource');
  const variables = dashboard.templating?.list ?? [];
  const dsVariable = variables.find((v) => v.name === 'datasource');
  if (dsVariable?.type !== 'datasource' || dsVariable.query !== 'prometheus') {
    say('no template variable "datasource" of type datasource for prometheus');
  } else if (input && dsVariable.current?.value !== `\${${input.name}}`) {
    say(`variable "datasource" does not default to the import input \${${input.name}}`);
  }
  const job = variables.find((v) => v.name === 'job');
  if (job?.type !== 'query' || !/^label_values\(.+,\s*job\s*\)$/.test(variableQuery(job) ?? '')) {
    say('no template variable "job" of type query with label_values(<metric>, job)');
  }
  for (const variable of variables) {
    if (variable.type === 'query' && datasourceUid(variable.datasource) !== DATASOURCE_REF) {
      say(`variable "${variable.name}" does not query the datasource variable ${DATASOURCE_REF}`);
    }
  }
  const defined = new Set([...variables.map((v) => v.name), ...BUILT_IN_VARIABLES]);

  // Overlaps only among top-level panels: those inside a collapsed row are laid out when the
  // row opens, and may share coordinates with the panels below it until then.
  const placed: { title: string; x: number; y: number; w: number; h: number }[] = [];
  for (const panel of dashboard.panels ?? []) {
    const grid = panel.gridPos;
    if (!grid) continue;
    const overlapping = placed.find(
      (p) =>
        grid.x < p.x + p.w && p.x < grid.x + grid.w && grid.y < p.y + p.h && p.y < grid.y + grid.h,
    );
    if (overlapping) say(`panel "${panel.title ?? '?'}": overlaps panel "${overlapping.title}"`);
    placed.push({ title: panel.title ?? '?', ...grid });
  }

  const ids = new Set<number>();
  for (const panel of allPanels(dashboard)) {
    const name = `panel "${panel.title ?? panel.id ?? '?'}"`;
    if (typeof panel.id !== 'number') say(`${name}: no numeric id`);
    else if (ids.has(panel.id)) say(`${name}: id ${panel.id} used twice`);
    else ids.add(panel.id);
    const grid = panel.gridPos;
    if (!grid) say(`${name}: no gridPos`);
    else if (grid.x < 0 || grid.w < 1 || grid.x + grid.w > GRID_COLUMNS || grid.h < 1) {
      say(`${name}: gridPos outside the ${GRID_COLUMNS}-column grid`);
    }
    // A row only groups panels: it has no query, unit or datasource of its own.
    if (panel.type === 'row') {
      if (!panel.title) say(`${name}: row without a title`);
      continue;
    }
    problems.push(...queryPanelProblems(panel, name, defined));
  }
  return problems;
}

function queryPanelProblems(
  panel: GrafanaPanel,
  name: string,
  defined: ReadonlySet<string>,
): string[] {
  const problems: string[] = [];
  if (!panel.title) problems.push(`${name}: no title`);
  if (!panel.description?.trim()) problems.push(`${name}: no description`);
  if (datasourceUid(panel.datasource) !== DATASOURCE_REF) {
    problems.push(`${name}: datasource is not the variable ${DATASOURCE_REF}`);
  }
  const unit = panel.fieldConfig?.defaults?.unit;
  if (typeof unit !== 'string' || unit.trim() === '') {
    problems.push(`${name}: no unit (fieldConfig.defaults.unit)`);
  }
  const targets = panel.targets ?? [];
  if (targets.length === 0) problems.push(`${name}: no targets`);
  const refIds = new Set<string>();
  for (const target of targets) {
    const ref = `${name} target ${target.refId ?? '?'}`;
    if (!target.refId || refIds.has(target.refId))
      problems.push(`${ref}: missing or repeated refId`);
    else refIds.add(target.refId);
    if (typeof target.expr !== 'string' || target.expr.trim() === '') {
      problems.push(`${ref}: no expr`);
      continue;
    }
    // A target may name its datasource; if so, it must be the same variable.
    if (target.datasource !== undefined && datasourceUid(target.datasource) !== DATASOURCE_REF) {
      problems.push(`${ref}: datasource is not the variable ${DATASOURCE_REF}`);
    }
    for (const match of target.expr.matchAll(/\$\{(\w+)[^}]*\}|\$(\w+)|\[\[(\w+)\]\]/g)) {
      const variable = (match[1] ?? match[2] ?? match[3]) as string;
      // `$1` is a label_replace back-reference, not a variable.
      if (/^\d+$/.test(variable)) continue;
      if (!defined.has(variable)) problems.push(`${ref}: uses undefined variable $${variable}`);
    }
  }
  return problems;
}

function datasourceUid(datasource: unknown): string | undefined {
  if (typeof datasource === 'string') return datasource;
  if (datasource && typeof datasource === 'object' && 'uid' in datasource) {
    const uid = (datasource as { uid?: unknown }).uid;
    return typeof uid === 'string' ? uid : undefined;
  }
  return undefined;
}
