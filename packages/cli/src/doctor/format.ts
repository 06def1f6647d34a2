import type { CheckStatus, DoctorReport } from './types.js';

export interface FormatTextOptions {
  /** Colour the status column with ANSI escapes. Default: false (the CLI enables it on a TTY). */
  color?: boolean;
}

const STATUS_LABEL: Record<CheckStatus, string> = {
  pass: 'PASS',
  warn: 'WARN',
  fail: 'FAIL',
  skip: 'SKIP',
};

const STATUS_COLOR: Record<CheckStatus, string> = {
  pass: '\u001b[32m', // green
  warn: '\u001b[33m', // yellow
  fail: '\u001b[31m', // red
  skip: '\u001b[2m', // dim
};
const RESET = '\u001b[0m';

/**
 * The human report: an aligned table (status, check id, duration, message) and a summary
 * line. Columns are padded on the plain text so colour codes never break the alignment.
 */
export function formatReportText(report: DoctorReport, options: FormatTextOptions = {}): string {
  if (report.checks.length === 0) return 'No checks ran.\n';
  const header = ['STATUS', 'CHECK', 'TIME', 'MESSAGE'] as const;
  const rows = report.checks.map((check) => ({
    status: check.status,
    cells: [STATUS_LABEL[check.status], check.id, `${check.durationMs} ms`, check.message],
  }));
  const widths = [0, 1, 2].map((column) =>
    Math.max(header[column]?.length ?? 0, ...rows.map((row) => row.cells[column]?.length ?? 0)),
  );
  const line = (cells: readonly string[], status?: CheckStatus): string => {
    const [label = '', id = '', time = '', message = ''] = cells;
    const paddedLabel = label.padEnd(widths[0] ?? 0);
    const shownLabel =
      options.color && status ? `${STATUS_COLOR[status]}${paddedLabel}${RESET}` : paddedLabel;
    // Durations are right-aligned so their magnitudes line up.
    return `${shownLabel}  ${id.padEnd(widths[1] ?? 0)}  ${time.padStart(widths[2] ?? 0)}  ${message}`.trimEnd();
  };

  const out = [line(header), ...rows.map((row) => line(row.cells, row.status))];
  const count = (status: CheckStatus) => report.checks.filter((c) => c.status === status).length;
  const verdict = report.ok ? 'OK' : 'FAILED';
  out.push(
    '',
    `${verdict}: ${count('pass')} passed, ${count('warn')} warned, ${count('fail')} failed, ${count('skip')} skipped (${report.checks.length} ${report.checks.length === 1 ? 'check' : 'checks'})`,
  );
  return `${out.join('\n')}\n`;
}

/** The report as one JSON object (`{ ok, checks }`) followed by a newline. */
export function formatReportJson(report: DoctorReport): string {
  return `${JSON.stringify({ ok: report.ok, checks: report.checks }, null, 2)}\n`;
}
