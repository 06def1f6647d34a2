import { describe, expect, it } from 'vitest';
import { formatReportJson, formatReportText } from '../src/index.js';
import type { DoctorReport } from '../src/index.js';

const report: DoctorReport = {
  ok: false,
  checks: [
    {
      id: 'postgres.primary',
      title: 'PostgreSQL primary',
      status: 'pass',
      message: 'PostgreSQL 15.8 at db:5432, primary (accepting writes)',
      durationMs: 12,
    },
    {
      id: 'redis',
      title: 'Redis',
      status: 'fail',
      message: 'cannot connect to Redis at cache:6379: connection refused',
      durationMs: 1503,
      details: { endpoint: 'cache:6379' },
    },
    { id: 'mes', title: 'MES', status: 'skip', message: 'not configured', durationMs: 0 },
    { id: 'rabbitmq', title: 'RabbitMQ', status: 'warn', message: 'slow', durationMs: 7 },
  ],
};

describe('formatReportText', () => {
  it('prints an aligned table and a summary line', () => {
    expect(formatReportText(report)).toBe(
      [
        'STATUS  CHECK                TIME  MESSAGE',
        'PASS    postgres.primary    12 ms  PostgreSQL 15.8 at db:5432, primary (accepting writes)',
        'FAIL    redis             1503 ms  cannot connect to Redis at cache:6379: connection refused',
        'SKIP    mes                  0 ms  not configured',
        'WARN    rabbitmq             7 ms  slow',
        '',
        'FAILED: 1 passed, 1 warned, 1 failed, 1 skipped (4 checks)',
        '',
      ].join('\n'),
    );
  });

  it('says OK when nothing failed', () => {
    const fine: DoctorReport = {
      ok: true,
      checks: report.checks.filter((c) => c.status !== 'fail'),
    };
    expect(formatReportText(fine)).toMatch(
      /\nOK: 1 passed, 1 warned, 0 failed, 1 skipped \(3 checks\)\n$/,
    );
  });

  it('colours only the status and keeps the columns aligned', () => {
    const coloured = formatReportText(report, { color: true });
    expect(coloured).toContain('\u001b[31mFAIL  \u001b[0m  redis');
    // Without the escape codes, the coloured table is the plain one.
    // eslint-disable-next-line no-control-regex
    expect(coloured.replace(/\u001b\[\d+m/g, '')).toBe(formatReportText(report));
  });

  it('handles an empty report', () => {
    expect(formatReportText({ ok: true, checks: [] })).toBe('No checks ran.\n');
  });
});

describe('formatReportJson', () => {
  it('is exactly one JSON object { ok, checks } with details where given', () => {
    const text = formatReportJson(report);
    expect(text.endsWith('\n')).toBe(true);
    const parsed: unknown = JSON.parse(text);
    expect(Object.keys(parsed as object)).toEqual(['ok', 'checks']);
    expect(parsed).toEqual(JSON.parse(JSON.stringify(report)));
  });
});
