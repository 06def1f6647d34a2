// Input rules shared by the HTTP API, the operators' pages and the message consumer.
import { ApiError } from '../errors.js';

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

/** The `{id}` of an order route; 400 INVALID_ID unless a positive integer. */
export function requireOrderId(text: string | undefined): number {
  const id = parseId(text ?? '');
  if (id === undefined) {
    throw new ApiError(
      400,
      'INVALID_ID',
      `order id must be a positive integer, got "${text ?? ''}"`,
    );
  }
  return id;
}

export function orderNotFound(id: number): ApiError {
  return new ApiError(404, 'ORDER_NOT_FOUND', `order ${id} does not exist`);
}

/** A `page`/`pageSize` query parameter: `fallback` when absent, undefined when not 0-999999999. */
export function intParam(text: string | null, fallback: number): number | undefined {
  if (text === null) return fallback;
  if (!/^[0-9]{1,9}$/.test(text)) return undefined;
  return Number(text);
}
