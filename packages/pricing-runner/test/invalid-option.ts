// What every factory promises for a bad option: the kernel's InvalidOptionError, thrown
// synchronously, naming the component and the option in its fields and its message.
import { expect } from 'vitest';
import { InvalidOptionError } from '../dist/index.js';

export function expectInvalidOption(
  construct: () => unknown,
  component: string,
  option: string,
  problem?: RegExp,
): InvalidOptionError {
  let thrown: unknown;
  let returned: unknown;
  try {
    returned = construct();
  } catch (error) {
    thrown = error;
  }
  // Closes whatever was built by mistake, so a failing assertion leaks no workers.
  void (returned as { close?: () => Promise<void> } | undefined)?.close?.();
  expect(thrown).toBeInstanceOf(InvalidOptionError);
  const error = thrown as InvalidOptionError;
  expect(error).toMatchObject({
    name: 'InvalidOptionError',
    code: 'INVALID_OPTION',
    component,
    option,
  });
  expect(error.message).toContain(`${component}: option ${option} `);
  if (problem) expect(error.message).toMatch(problem);
  return error;
}
