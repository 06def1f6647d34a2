// Trace and span ids for the lean tracer.
import { randomFillSync } from 'node:crypto';

// Ids from a pool of random bytes refilled 4 KiB at a time and turned into hex once per refill:
// an id is then a substring, instead of a Math.random() per byte or a Buffer#toString per id.
const POOL = Buffer.alloc(4096);
let poolHex = '';
let poolOffset = POOL.length * 2;
const ZERO_SPAN_ID = '0000000000000000';
const ZERO_TRACE_ID = '00000000000000000000000000000000';

/** A random id of `bytes` bytes as lowercase hex, never all zeros (invalid in W3C trace context). */
export function newId(bytes: 8 | 16): string {
  const chars = bytes * 2;
  for (;;) {
    if (poolOffset + chars > poolHex.length) {
      randomFillSync(POOL);
      poolHex = POOL.toString('hex');
      poolOffset = 0;
    }
    const id = poolHex.slice(poolOffset, poolOffset + chars);
    poolOffset += chars;
    if (id !== ZERO_SPAN_ID && id !== ZERO_TRACE_ID) return id;
  }
}
