// CPU time of another process, all its threads, as Linux accounts it (/proc).
import { readdirSync, readFileSync } from 'node:fs';

/** Linux's USER_HZ: /proc/<pid>/stat counts utime and stime in these. */
const CLOCK_TICKS_PER_SECOND = 100;

export interface CpuSample {
  /** utime + stime from /proc/<pid>/stat, in ns (10 ms steps); includes exited threads. */
  statNs: number;
  /** Each live thread's run time from /proc/<pid>/task/<tid>/schedstat, in ns. */
  threads: Map<number, number>;
}

export interface CpuSpent {
  ns: number;
  /**
   * `schedstat`: the threads' own run times (ns precision), when no thread exited between the
   * samples; `stat`: utime + stime (10 ms steps), which also counts threads that exited.
   */
  source: 'schedstat' | 'stat';
}

/** Reads the process's CPU time so far; throws if it is gone. */
export function sampleCpu(pid: number): CpuSample {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Field 3 (state) is fields[0]: utime is field 14, stime field 15.
  const ticks = Number(fields[11]) + Number(fields[12]);
  const threads = new Map<number, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const runNs = Number(
        readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0],
      );
      threads.set(Number(tid), runNs);
    } catch {
      // The thread exited between the listing and the read: stat still counts it.
    }
  }
  if (!Number.isFinite(ticks)) throw new Error(`cannot read utime/stime of process ${pid}`);
  return { statNs: (ticks * 1e9) / CLOCK_TICKS_PER_SECOND, threads };
}

/** The CPU time spent between two samples of one process. */
export function cpuBetween(before: CpuSample, after: CpuSample): CpuSpent {
  const statNs = after.statNs - before.statNs;
  const exited = [...before.threads.keys()].some((tid) => !after.threads.has(tid));
  if (exited || after.threads.size === 0) return { ns: statNs, source: 'stat' };
  let ns = 0;
  for (const [tid, runNs] of after.threads) ns += runNs - (before.threads.get(tid) ?? 0);
  // The kernel scales utime + stime to the threads' summed run time, so the two agree to a
  // tick or two; more than that is a thread that started and exited between the samples.
  if (statNs - ns > (2 * 1e9) / CLOCK_TICKS_PER_SECOND) return { ns: statNs, source: 'stat' };
  return { ns, source: 'schedstat' };
}

/** The command line of a process, to check a pid is the program it should be. */
export function commandLine(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
}
