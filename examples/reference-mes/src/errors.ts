/**
 * Stable codes for failures of the reference MES as a library (start-up, models, seeding).
 * The HTTP API has its own codes ({@link ApiErrorCode}); both are part of the public contract.
 */
export type MesErrorCode =
  'BAD_OPTIONS' | 'DATABASE_UNREACHABLE' | 'BROKER_UNREACHABLE' | 'INVALID_MODEL' | 'START_FAILED';

export class MesError extends Error {
  readonly code: MesErrorCode;

  constructor(code: MesErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MesError';
    this.code = code;
  }
}

/** The `error.code` values the HTTP API answers with (openapi.yaml lists the same). */
export const API_ERROR_CODES = [
  'BAD_REQUEST',
  'INVALID_JSON',
  'INVALID_ID',
  'INVALID_STATUS',
  'INVALID_PAGE',
  'INVALID_PAGE_SIZE',
  'INVALID_OPERATOR',
  'UNKNOWN_OPERATOR',
  'INVALID_EXTERNAL_ID',
  'INVALID_FILENAME',
  'INVALID_MODEL',
  'MODEL_NOT_PRICEABLE',
  'ORDER_NOT_FOUND',
  'ORDER_ALREADY_TAKEN',
  'ORDER_NOT_AVAILABLE',
  'INVALID_TRANSITION',
  'DUPLICATE_EXTERNAL_ID',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'NOT_FOUND',
  'METHOD_NOT_ALLOWED',
  'DATABASE_UNAVAILABLE',
  'PRICING_UNAVAILABLE',
  'PRICING_TIMEOUT',
  'INTERNAL',
] as const;

export type ApiErrorCode = (typeof API_ERROR_CODES)[number];

/** An error the HTTP layer turns into `{ error: { code, message } }` with `status`. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: ApiErrorCode;
  /** Extra response headers (`allow` on a 405, `connection: close` on a 413). */
  readonly headers: Readonly<Record<string, string>>;
  /**
   * A finer, machine-readable cause answered as `error.reason` beside the code, e.g. the
   * pricing-runner's `MeshError` code (`TRUNCATED`) of an `INVALID_MODEL`. Default: none.
   */
  readonly reason: string | undefined;

  constructor(
    status: number,
    code: ApiErrorCode,
    message: string,
    options?: { cause?: unknown; headers?: Record<string, string>; reason?: string },
  ) {
    super(message, options);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.headers = options?.headers ?? {};
    this.reason = options?.reason;
  }
}
