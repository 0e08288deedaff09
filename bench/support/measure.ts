// What every benchmark measures the same way: a process's memory and CPU time from /proc, percentiles,
// and running a benchmark module when node is pointed at it directly.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Resident and peak resident memory of a process, in bytes. */
export function processMemory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number =>
    Number(new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(status)?.[1] ?? Number.NaN) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

/**
 * CPU time a process has used, in milliseconds: the scheduler's run time of each of its threads
 * (/proc/<pid>/task/<tid>/schedstat, nanoseconds), or where the kernel keeps none, user + system time
 * from /proc/<pid>/stat (10 ms clock ticks).
 */
export function cpuTimeMs(pid: number): number {
  let ns = 0;
  let threads: string[] = [];
  try {
    threads = readdirSync(`/proc/${pid}/task`);
  } catch {
    // no such process: the read below says so
  }
  for (const tid of threads) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread ended between the listing and the read
    }
  }
  if (Number.isFinite(ns) && ns > 0) return ns / 1e6;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

/** The q-quantile (0..1) of the samples, NaN when there are none. */
export function percentile(samples: number[], q: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** Runs main() when the module is node's entry point (not when bench/run.ts imports it). */
export function runWhenInvokedDirectly(moduleUrl: string, main: () => Promise<unknown>): void {
  if (!process.argv[1] || fileURLToPath(moduleUrl) !== process.argv[1]) return;
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
