// LEGACY (deliberate): the MES has no logging framework, no metrics and no traces (CASE.md
// problem 6). It writes a bare JSON line to stderr when something goes wrong, and nothing
// otherwise. stdout is reserved for the one "listening" line main.ts prints.

export type LogLevel = 'warn' | 'error';

export function log(level: LogLevel, event: string, fields: Record<string, unknown> = {}): void {
  const line = JSON.stringify({ time: new Date().toISOString(), level, event, ...fields });
  process.stderr.write(`${line}\n`);
}
