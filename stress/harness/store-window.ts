// What the masters spent over a stretch of time, each master apart: CPU, commands, scripts; and CLIENT LIST's price.
import type { LocalCluster } from '../../scripts/local-cluster.js';
import { type CommandCost, commandCostDelta, onMasters, sumCommandStats } from './store-reads.js';

/** One master over a window: CPU ms, all commands (those scripts ran included), scripts, and each command. */
export interface MasterWindow {
  port: number;
  cpuMs: number;
  calls: number;
  evalsha: number;
  commands: Array<{ command: string } & CommandCost>;
}

async function readMasters(cluster: LocalCluster) {
  return onMasters(cluster, async (redis, port) => {
    const [cpu, stats] = await Promise.all([redis.info('cpu'), redis.info('commandstats')]);
    const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(cpu)?.[1] ?? 0);
    return { port, cpuS: field('used_cpu_user') + field('used_cpu_sys'), stats: sumCommandStats([stats]) };
  });
}

/** Runs `fn` between two readings of every master's INFO cpu and commandstats; the masters by port. */
export async function storeOver<T>(
  cluster: LocalCluster,
  fn: () => Promise<T>,
): Promise<{ result: T; seconds: number; masters: MasterWindow[] }> {
  const before = await readMasters(cluster);
  const started = Date.now();
  const result = await fn();
  const seconds = (Date.now() - started) / 1000;
  const after = await readMasters(cluster);
  const masters = after
    .map(({ port, cpuS, stats }) => {
      const was = before.find((b) => b.port === port);
      const commands = commandCostDelta(was?.stats ?? new Map(), stats);
      const calls = (name: string) => commands.find((c) => c.command === name)?.calls ?? 0;
      return {
        port,
        cpuMs: (cpuS - (was?.cpuS ?? cpuS)) * 1000,
        calls: commands.reduce((a, c) => a + c.calls, 0),
        evalsha: calls('evalsha') + calls('eval'),
        commands,
      };
    })
    .sort((a, b) => a.port - b.port);
  return { result, seconds, masters };
}

/** Sums of a window over every master. */
export function mastersTotal(masters: readonly MasterWindow[]) {
  return masters.reduce(
    (a, m) => ({ cpuMs: a.cpuMs + m.cpuMs, calls: a.calls + m.calls, evalsha: a.evalsha + m.evalsha }),
    {
      cpuMs: 0,
      calls: 0,
      evalsha: 0,
    },
  );
}

/**
 * µs one CLIENT LIST costs each master now (`calls` in a row, from its commandstats), with the
 * clients it listed: what every node pays each master per beat while another node is late.
 */
export async function clientListCost(
  cluster: LocalCluster,
  calls = 20,
): Promise<Array<{ port: number; clients: number; us: number }>> {
  return onMasters(cluster, async (redis, port) => {
    const usOf = (info: string) => {
      const m = /cmdstat_client\|list:calls=(\d+),usec=(\d+)/.exec(info);
      return m ? { calls: Number(m[1]), usec: Number(m[2]) } : { calls: 0, usec: 0 };
    };
    const before = usOf(await redis.info('commandstats'));
    let clients = 0;
    for (let i = 0; i < calls; i++)
      clients = ((await redis.client('LIST')) as string).trim().split('\n').length;
    const after = usOf(await redis.info('commandstats'));
    return { port, clients, us: (after.usec - before.usec) / Math.max(1, after.calls - before.calls) };
  });
}
