import { describe, expect, it } from 'vitest';
import { createTokenTracker, formatLsn, laterLsn, parseLsn } from '../dist/index.js';

describe('WAL positions and tokens', () => {
  it('parses and formats pg_lsn, and orders positions across the 32-bit halves', () => {
    expect(parseLsn('16/B374D848')).toBe((0x16n << 32n) | 0xb374d848n);
    expect(formatLsn(parseLsn('16/B374D848')!)).toBe('16/B374D848');
    expect(formatLsn(parseLsn('0/0')!)).toBe('0/0');
    expect(parseLsn('1/0')! > parseLsn('0/FFFFFFFF')!).toBe(true);
    for (const bad of ['', '16', '16/', 'x/1', '123456789/1', 16, undefined])
      expect(parseLsn(bad)).toBeUndefined();
    expect(laterLsn(3n, undefined)).toBe(3n);
    expect(laterLsn(3n, 5n)).toBe(5n);
  });

  it('a tracker keeps the newest token it saw, ignoring junk and older ones', () => {
    const tracker = createTokenTracker();
    expect(tracker.newest).toBeUndefined();
    tracker.see('0/16B3748');
    tracker.see('not a token');
    tracker.see(['0/16B3750']);
    tracker.see('0/16B3700');
    tracker.see(undefined);
    expect(tracker.newest).toBe('0/16B3750');
  });
});
