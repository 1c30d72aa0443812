// The store's side of a stress run (`--store SEEDS`): commands per second on the masters, from INFO
// commandstats read before and after a phase, so SSE and polling can be compared by what they cost.
import { Cluster } from 'ioredis';
import { type CommandCost, commandCostDelta, sumCommandStats } from './harness/store-reads.js';

/** What one phase cost the store: commands per second in all and for the costliest commands. */
export interface StoreLoad {
  seconds: number;
  commands_per_s: number;
  usec_per_s: number;
  top: Array<{ command: string; calls_per_s: number; usec_per_s: number }>;
}

/** A reader of the masters' command counts through the cluster at `seeds` (`host:port,...`). */
export function createStoreLoadMeter(seeds: string) {
  const nodes = seeds.split(',').map((seed) => {
    const [host = '127.0.0.1', port = '7000'] = seed.trim().split(':');
    return { host, port: Number(port) };
  });
  const cluster = new Cluster(nodes, { redisOptions: { connectionName: 'orderflow-stress-meter' } });
  const read = async () => {
    await cluster.ping();
    return sumCommandStats(await Promise.all(cluster.nodes('master').map((n) => n.info('commandstats'))));
  };
  let before: { at: number; stats: Map<string, CommandCost> } | undefined;
  return {
    async start(): Promise<void> {
      before = { at: Date.now(), stats: await read() };
    },
    /** The load since `start`; the meter's own INFO calls are left out. */
    async stop(): Promise<StoreLoad> {
      const stats = await read();
      const seconds = Math.max(0.001, (Date.now() - (before?.at ?? Date.now())) / 1000);
      const delta = commandCostDelta(before?.stats ?? new Map(), stats).filter((c) => c.command !== 'info');
      const calls = delta.reduce((a, c) => a + c.calls, 0);
      const usec = delta.reduce((a, c) => a + c.usec, 0);
      return {
        seconds,
        commands_per_s: calls / seconds,
        usec_per_s: usec / seconds,
        top: delta.slice(0, 8).map((c) => ({
          command: c.command,
          calls_per_s: c.calls / seconds,
          usec_per_s: c.usec / seconds,
        })),
      };
    },
    close: () => cluster.quit().then(() => undefined),
  };
}
