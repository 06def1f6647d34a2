import { MeskitError } from '@meskit/kernel';

/**
 * Stable codes for failures of the reference MES as a library (start-up, models, seeding).
 * The HTTP API has its own codes ({@link ApiErrorCode}); both are part of the public contract.
 */
export type MesErrorCode =
  'DATABASE_UNREACHABLE' | 'BROKER_UNREACHABLE' | 'INVALID_MODEL' | 'START_FAILED';

/**
 * A failure of the reference MES as a library. A bad option is the kernel's
 * `InvalidOptionError` instead (`INVALID_OPTION`, naming the option), as in every meskit package.
 */
export class MesError extends MeskitError<MesErrorCode> {}

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
  'INVALID_TOKEN',
  'INTERNAL',
] as const;

export type ApiErrorCode = (typeof API_ERROR_CODES)[number];

/** An error the HTTP layer turns into `{ error: { code, message } }` with `status`. */
export class ApiError extends MeskitError<ApiErrorCode> {
  readonly status: number;
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
    super(code, message, options);
    this.status = status;
    this.headers = options?.headers ?? {};
    this.reason = options?.reason;
  }
}
