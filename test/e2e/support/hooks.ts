// One stack per test file, and the screenshots of every open page when a test fails.
import { afterAll, afterEach, beforeAll } from 'vitest';
import { screenshotAll, startStack, type Stack, type StackOptions } from './stack.js';

/** Starts the file's stack before its tests; the getter throws if it did not start. */
export function useStack(opts: StackOptions = {}): () => Stack {
  let stack: Stack | undefined;
  beforeAll(async () => {
    stack = await startStack(opts);
  }, 180_000);
  afterEach(async (ctx) => {
    if (ctx.task.result?.state === 'fail') {
      const files = await screenshotAll(stack, ctx.task.name);
      console.log(`screenshots of the failure: ${files.join(', ') || 'none (no page open)'}`);
    }
    for (const page of stack?.pages.values() ?? []) await page.context().close();
    stack?.pages.clear();
  });
  afterAll(async () => {
    await stack?.close();
  });
  return () => {
    if (!stack) throw new Error('the stack did not start');
    return stack;
  };
}
