// Input rules shared by the HTTP API and the message consumer.

const EXTERNAL_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/** External ids come from the shop and B2B partners: 1-128 URL- and log-safe characters. */
export function isExternalId(value: unknown): value is string {
  return typeof value === 'string' && EXTERNAL_ID.test(value);
}

/** A positive integer id that fits both PostgreSQL's bigint and a JS number exactly. */
export function parseId(text: string): number | undefined {
  if (!/^[1-9][0-9]{0,15}$/.test(text)) return undefined;
  const id = Number(text);
  return Number.isSafeInteger(id) ? id : undefined;
}
