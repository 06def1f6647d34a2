/** Stable codes for everything that can go wrong while starting or driving the servers. */
export type ServicesErrorCode =
  | 'MISSING_PACKAGES'
  | 'INSTALL_FAILED'
  | 'START_FAILED'
  | 'NOT_READY'
  | 'COMMAND_FAILED'
  | 'BAD_OPTIONS'
  | 'STOP_FAILED';

export class ServicesError extends Error {
  readonly code: ServicesErrorCode;

  constructor(code: ServicesErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ServicesError';
    this.code = code;
  }
}
