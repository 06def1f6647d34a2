import { MeskitError } from '@meskit/kernel';

/** Stable codes for everything that can go wrong while starting or driving the servers. */
export type ServicesErrorCode =
  | 'MISSING_PACKAGES'
  | 'INSTALL_FAILED'
  | 'START_FAILED'
  | 'NOT_READY'
  | 'COMMAND_FAILED'
  | 'BAD_OPTIONS'
  | 'STOP_FAILED';

export class ServicesError extends MeskitError<ServicesErrorCode> {}
