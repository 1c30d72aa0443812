// Pure arithmetic of what a run cost the store: command deltas per step or order, and rates per node.

/** Calls of one command over a run (a commandstats delta row). */
export interface CommandCalls {
  command: string;
  calls: number;
  usec: number;
}

/** What a run's commands come to per unit (a step, an order): all calls, scripts (EVALSHA), and µs. */
export interface CommandsPer {
  calls: number;
  evalsha: number;
  usec: number;
}

/**
 * The commands of a run per `units` units. EVALSHA and EVAL are the scripts: BullMQ's moves and
 * orderflow's fenced writes, each one round trip. Null when no unit was done (nothing to divide by).
 */
export function commandsPer(commands: readonly CommandCalls[], units: number): CommandsPer | null {
  if (!(units > 0)) return null;
  const sum = (list: readonly CommandCalls[], field: 'calls' | 'usec') =>
    list.reduce((a, c) => a + c[field], 0);
  const scripts = commands.filter((c) => c.command === 'evalsha' || c.command === 'eval');
  return {
    calls: sum(commands, 'calls') / units,
    evalsha: sum(scripts, 'calls') / units,
    usec: sum(commands, 'usec') / units,
  };
}

/** `a / b`, or null when either is missing or `b` is not positive. */
export function ratioOf(a: number | null | undefined, b: number | null | undefined): number | null {
  if (a === null || a === undefined || b === null || b === undefined || !(b > 0)) return null;
  return a / b;
}
