// The /proc readers of the soak, on this very process (and a child of it): resident memory,
// descriptors and sockets, names and children.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync } from 'node:fs';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  childPids,
  findProcess,
  isSocketLink,
  parseThreads,
  parseVmRss,
  processName,
  readDescriptors,
  readRssBytes,
  readStatus,
} from '../src/benches/soak/proc.js';

describe('RSS', () => {
  it('reads VmRSS in kB as bytes', () => {
    const status = 'Name:\tnode\nVmPeak:\t  999 kB\nVmRSS:\t   51200 kB\nRssAnon:\t 100 kB\n';
    expect(parseVmRss(status)).toBe(51200 * 1024);
    expect(() => parseVmRss('Name:\tkthreadd\n')).toThrow(/no VmRSS/);
  });

  it("agrees with Node's own figure for this process", () => {
    const ours = readRssBytes(process.pid);
    const node = process.memoryUsage().rss;
    expect(ours).toBeGreaterThan(node * 0.8);
    expect(ours).toBeLessThan(node * 1.25);
  });

  it('reads the thread count beside it', () => {
    expect(parseThreads('Name:\tnode\nThreads:\t11\nSigQ:\t0/1\n')).toBe(11);
    const { rss, threads } = readStatus(process.pid);
    expect(rss).toBeGreaterThan(0);
    // Node's main thread, its platform workers and libuv's: always several.
    expect(threads).toBeGreaterThan(1);
  });

  it('throws for a process that does not exist', () => {
    expect(() => readRssBytes(2 ** 22 + 1)).toThrow();
  });
});

describe('descriptors', () => {
  it('tells socket links from the others', () => {
    expect(isSocketLink('socket:[123456]')).toBe(true);
    expect(isSocketLink('pipe:[123456]')).toBe(false);
    expect(isSocketLink('/tmp/socket:[1]')).toBe(false);
    expect(isSocketLink('anon_inode:[eventfd]')).toBe(false);
  });

  it('counts a file opened and closed here, and it is not a socket', () => {
    const before = readDescriptors(process.pid);
    const fd = openSync(process.execPath, 'r');
    const during = readDescriptors(process.pid);
    closeSync(fd);
    const after = readDescriptors(process.pid);
    expect(during.fds).toBe(before.fds + 1);
    expect(during.sockets).toBe(before.sockets);
    expect(after).toEqual(before);
  });

  it('counts a listening socket as a descriptor and a socket', async () => {
    const before = readDescriptors(process.pid);
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const during = readDescriptors(process.pid);
      expect(during.sockets).toBeGreaterThanOrEqual(before.sockets + 1);
      expect(during.fds - before.fds).toBeGreaterThanOrEqual(during.sockets - before.sockets);
    } finally {
      server.close();
    }
  });
});

describe('processes', () => {
  it('names this process and finds a child of it by name', async () => {
    // Node 24 names its main thread (and so the process) "MainThread".
    expect(processName(process.pid)).toMatch(/^(node|MainThread)$/);
    // The child renames itself (prctl under process.title), then says so.
    const child = spawn(
      process.execPath,
      ['-e', "process.title = 'soak-test-kid'; console.log('ready'); process.stdin.resume()"],
      { stdio: ['pipe', 'pipe', 'ignore'] },
    );
    try {
      await once(child.stdout, 'data');
      expect(childPids(process.pid)).toContain(child.pid);
      expect(processName(child.pid!)).toBe('soak-test-kid');
      expect(findProcess(process.pid, (name) => name === 'soak-test-kid')).toBe(child.pid);
      expect(findProcess(process.pid, () => true)).toBe(process.pid);
      expect(findProcess(process.pid, (name) => name === 'nothing-like-this')).toBeUndefined();
    } finally {
      child.kill();
      await once(child, 'exit');
    }
  });
});
