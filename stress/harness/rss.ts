// Resident memory and CPU time of a process by pid, from /proc (Linux); and the growth of a sampled series.
import { readFile } from 'node:fs/promises';
import { linearSlope, median } from '../report-math.js';

/** VmRSS of `pid` in bytes, or null when the process is gone or /proc is not there. */
export async function rssOf(pid: number): Promise<number | null> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = /VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1];
    return kb ? Number(kb) * 1024 : null;
  } catch {
    return null;
  }
}

/** How a sampled series grew after its warm-up. */
export interface Growth {
  /** Median over the first tenth after warm-up. */
  start: number;
  /** Median over the last tenth. */
  end: number;
  /** end / start − 1. */
  growth: number;
  /** Least-squares slope after warm-up, per minute. */
  slope_per_min: number | null;
}

/**
 * Growth of `samples` ([ms since start, value]) after `warmupMs`: medians of the first and last
 * tenth of the remaining time, so one garbage-collection spike does not decide the verdict.
 */
export function growthAfterWarmup(samples: ReadonlyArray<[number, number]>, warmupMs: number): Growth | null {
  const kept = samples.filter(([t]) => t >= warmupMs);
  if (kept.length < 4) return null;
  const first = kept[0]![0];
  const last = kept.at(-1)![0];
  const tenth = Math.max((last - first) / 10, 1);
  const start = median(kept.filter(([t]) => t <= first + tenth).map(([, v]) => v));
  const end = median(kept.filter(([t]) => t >= last - tenth).map(([, v]) => v));
  const slope = linearSlope(
    kept.map(([t]) => t / 60_000),
    kept.map(([, v]) => v),
  );
  return { start, end, growth: end / start - 1, slope_per_min: slope };
}

/**
 * CPU seconds (user + system) `pid` has used, from /proc/<pid>/stat; null when it is gone. Linux
 * counts them in clock ticks of 1/100 s (USER_HZ, 100 on every mainstream build).
 */
export async function cpuSecondsOf(pid: number): Promise<number | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which may hold spaces, start after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}
