// What working off a backlog cost: the masters' CPU and commands over the drain, and the workers' own CPU.
import type { BenchSystem } from './bench-system.js';
import type { DrainTiming } from './drain.js';
import { cpuSecondsOf } from './rss.js';
import { type CommandCost, commandCostDelta, mastersCommandStats, mastersCpuSeconds } from './store-reads.js';

/** A drain and its cost: masters' CPU ms, the worker processes' CPU ms (null if unreadable), commands. */
export interface DrainCost {
  timing: DrainTiming;
  storeMs: number;
  nodesMs: number | null;
  commands: Array<{ command: string } & CommandCost>;
}

/** The CPU seconds `pids` have used so far, together; null when one is unreadable. */
async function cpuOf(pids: number[]): Promise<number | null> {
  const each = await Promise.all(pids.map((pid) => cpuSecondsOf(pid)));
  return each.some((s) => s === null) ? null : each.reduce<number>((sum, s) => sum + s!, 0);
}

/**
 * Runs `drain` between two readings of the masters' `INFO cpu` and `INFO commandstats` and of the
 * CPU of `pids` (the side's worker processes): the processes' CPU is steadier than the rate on a
 * shared machine, and the commands do not depend on the machine at all.
 */
export async function measureDrain(
  system: BenchSystem,
  pids: number[],
  drain: () => Promise<DrainTiming>,
): Promise<DrainCost> {
  const [cpu, commands, nodesCpu] = await Promise.all([
    mastersCpuSeconds(system.cluster),
    mastersCommandStats(system.cluster),
    cpuOf(pids),
  ]);
  const timing = await drain();
  const [cpuAfter, commandsAfter, nodesCpuAfter] = await Promise.all([
    mastersCpuSeconds(system.cluster),
    mastersCommandStats(system.cluster),
    cpuOf(pids),
  ]);
  const nodesMs = nodesCpu === null || nodesCpuAfter === null ? null : (nodesCpuAfter - nodesCpu) * 1000;
  return {
    timing,
    storeMs: (cpuAfter - cpu) * 1000,
    nodesMs,
    commands: commandCostDelta(commands, commandsAfter),
  };
}
