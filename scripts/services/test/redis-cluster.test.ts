// The slot arithmetic and CLUSTER NODES parsing the cluster helpers wait on.
import { describe, expect, it } from 'vitest';
import { parseClusterNodes, slotOf } from '../dist/index.js';

describe('slotOf', () => {
  it('is CRC16/XMODEM modulo 16384, as Redis Cluster computes it', () => {
    // 0x31C3 is the CRC16/XMODEM check value of "123456789".
    expect(slotOf('123456789')).toBe(0x31c3 % 16_384);
    expect(slotOf('foo')).toBe(12_182);
  });

  it('hashes only the hash tag when there is one', () => {
    expect(slotOf('meskit:cache:{MANUFACTURING_APPROVED}:idx')).toBe(
      slotOf('MANUFACTURING_APPROVED'),
    );
    expect(slotOf('{user1000}.following')).toBe(slotOf('{user1000}.followers'));
    // An empty tag is no tag: the whole key is hashed.
    expect(slotOf('{}foo')).not.toBe(slotOf('foo'));
  });
});

describe('parseClusterNodes', () => {
  it('reads roles, masters, failures and slot ranges', () => {
    const nodes = parseClusterNodes(
      [
        'a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460',
        'b2 127.0.0.1:7001@17001 master,fail - 0 0 2 connected 5461-10922 10923',
        'c3 127.0.0.1:7002@17002 slave a1 0 0 1 connected',
        '',
      ].join('\n'),
    );
    expect(nodes).toEqual([
      {
        id: 'a1',
        port: 7000,
        role: 'master',
        masterId: undefined,
        failed: false,
        myself: true,
        slots: [[0, 5460]],
      },
      {
        id: 'b2',
        port: 7001,
        role: 'master',
        masterId: undefined,
        failed: true,
        myself: false,
        slots: [
          [5461, 10922],
          [10923, 10923],
        ],
      },
      {
        id: 'c3',
        port: 7002,
        role: 'replica',
        masterId: 'a1',
        failed: false,
        myself: false,
        slots: [],
      },
    ]);
  });
});
