// What Linux says about another process's resources (/proc): its resident memory and its open
// file descriptors, sockets among them. Read the same way for a Node process, Redis or
// RabbitMQ, so every process of the soak is measured alike.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** VmRSS from the text of /proc/<pid>/status, in bytes; throws if the line is missing. */
export function parseVmRss(status: string): number {
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (!match) throw new Error('no VmRSS line in /proc/<pid>/status (a kernel thread or a zombie?)');
  return Number(match[1]) * 1024;
}

/** The Threads line of /proc/<pid>/status; throws if it is missing. */
export function parseThreads(status: string): number {
  const match = /^Threads:\s+(\d+)$/m.exec(status);
  if (!match) throw new Error('no Threads line in /proc/<pid>/status');
  return Number(match[1]);
}

/** The process's resident set size in bytes; throws if it is gone. */
export function readRssBytes(pid: number): number {
  return parseVmRss(readFileSync(`/proc/${pid}/status`, 'utf8'));
}

/** RSS (bytes) and thread count from one read of /proc/<pid>/status; throws if it is gone. */
export function readStatus(pid: number): { rss: number; threads: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return { rss: parseVmRss(status), threads: parseThreads(status) };
}

export interface Descriptors {
  /** Entries of /proc/<pid>/fd: every open file, pipe, socket, eventfd... */
  fds: number;
  /** Of those, the ones whose link reads `socket:[inode]` (TCP, Unix, netlink...). */
  sockets: number;
}

/** Whether a /proc/<pid>/fd link target names a socket. */
export function isSocketLink(target: string): boolean {
  return /^socket:\[\d+\]$/.test(target);
}

/**
 * Counts the open descriptors of a process. A descriptor closed between the listing and its
 * readlink is not counted (it was gone by then); throws if the process is gone or its fd
 * folder cannot be read (another user's process, without root).
 */
export function readDescriptors(pid: number): Descriptors {
  const dir = `/proc/${pid}/fd`;
  let fds = 0;
  let sockets = 0;
  for (const fd of readdirSync(dir)) {
    let target: string;
    try {
      target = readlinkSync(`${dir}/${fd}`);
    } catch {
      continue;
    }
    fds += 1;
    if (isSocketLink(target)) sockets += 1;
  }
  return { fds, sockets };
}

/** The process's name as the kernel has it (/proc/<pid>/comm, at most 15 characters). */
export function processName(pid: number): string {
  return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
}

/** The pids of the process's children, all its threads' (/proc/<pid>/task/<tid>/children). */
export function childPids(pid: number): number[] {
  const children: number[] = [];
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (text) children.push(...text.split(/\s+/).map(Number));
    } catch {
      // The thread exited between the listing and the read.
    }
  }
  return children;
}

/**
 * The pid itself or its first descendant (breadth first) whose name `matches`: a server
 * started through a wrapper script (RabbitMQ's `rabbitmq-server` runs `beam.smp`).
 * Undefined when there is none.
 */
export function findProcess(pid: number, matches: (name: string) => boolean): number | undefined {
  const queue = [pid];
  const seen = new Set<number>();
  while (queue.length > 0) {
    const next = queue.shift()!;
    if (seen.has(next)) continue;
    seen.add(next);
    try {
      if (matches(processName(next))) return next;
      queue.push(...childPids(next));
    } catch {
      // Gone meanwhile.
    }
  }
  return undefined;
}
