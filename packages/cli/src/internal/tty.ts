import type { OutputStream } from '../program.js';

/**
 * Colour only for a terminal, and never when the user opted out (https://no-color.org,
 * TERM=dumb); FORCE_COLOR (other than "0") turns it on for pipes, as in most Node tools.
 */
export function useColor(
  stream: OutputStream,
  env: Readonly<Record<string, string | undefined>>,
): boolean {
  if (env['NO_COLOR']) return false;
  const force = env['FORCE_COLOR'];
  if (force !== undefined && force !== '') return force !== '0';
  return stream.isTTY === true && env['TERM'] !== 'dumb';
}
