import { describe, expect, it } from 'vitest';
import { KeyedSerializer } from '../src/consumer/key-order.js';

describe('KeyedSerializer', () => {
  it('runs one key after another, other keys at once, and forgets a key once it is idle', async () => {
    const serializer = new KeyedSerializer();
    const log: string[] = [];
    let releaseFirst: () => void = () => undefined;
    const first = serializer.run('a', async () => {
      log.push('a1 start');
      await new Promise<void>((resolve) => (releaseFirst = resolve));
      log.push('a1 end');
      throw new Error('a1 failed');
    });
    const second = serializer.run('a', async () => {
      log.push('a2');
      return 2;
    });
    const other = serializer.run('b', async () => {
      log.push('b1');
      return 'b';
    });
    expect(await other).toBe('b');
    expect(log).toEqual(['a1 start', 'b1']);
    await new Promise((resolve) => setImmediate(resolve));
    expect(serializer.size).toBe(1); // b is done; a still holds
    releaseFirst();
    await expect(first).rejects.toThrow('a1 failed');
    // A failure does not stop the key's next task.
    expect(await second).toBe(2);
    expect(log).toEqual(['a1 start', 'b1', 'a1 end', 'a2']);
    await new Promise((resolve) => setImmediate(resolve));
    expect(serializer.size).toBe(0);
  });
});
