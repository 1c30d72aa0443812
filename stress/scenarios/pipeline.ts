// Pipeline overhead: orderflow's nodes at STEP_MS=0 vs raw BullMQ Workers on the same chains, no-op steps.
import { FlowProducer } from 'bullmq';
import { orderFlow } from '../../shared/order-flow.js';
import { newOrderId } from '../../shared/order-id.js';
import { shardOf } from '../../shared/sharding.js';
import type { BenchSystem } from '../harness/bench-system.js';
import { withBenchSystem } from '../harness/bench-system.js';
import { type DrainTiming, timeDrain } from '../harness/drain.js';
import { fixed, placeLoad } from '../harness/load.js';
import { cpuSecondsOf } from '../harness/rss.js';
import type { Scenario } from '../harness/scenario.js';
import {
  type CommandCost,
  commandCostDelta,
  mastersCommandStats,
  mastersCpuSeconds,
  readRecords,
  setQueuesPaused,
} from '../harness/store-reads.js';

const PROCESSES = 2;
const STEPS = 4;

/** Adds `orders` chains straight to the queues, as the bare placement endpoint would, 100 at a time. */
async function addChains(system: BenchSystem, ns: string, orders: number): Promise<void> {
  const keyspace = system.keyspace(ns);
  const producer = new FlowProducer({ connection: system.store });
  try {
    // One add per flow: addBulk is one MULTI, which a cluster refuses across slots (shards).
    for (let i = 0; i < orders; i += 100) {
      const batch = Array.from({ length: Math.min(100, orders - i) }, (_, j) => {
        const user_id = `bench-u${(i + j) % 1000}`;
        const shard = shardOf(user_id, keyspace.shards);
        return producer.add(
          orderFlow({ order_id: newOrderId(shard), user_id, shard }, keyspace.shard(shard)),
        );
      });
      await Promise.all(batch);
    }
  } finally {
    await producer.close();
  }
}

const ordersPerS = (jobsPerS: number | null) => (jobsPerS === null ? null : jobsPerS / STEPS);

/** The CPU seconds `pids` have used so far, together; null when one is unreadable. */
async function cpuOf(pids: number[]): Promise<number | null> {
  const each = await Promise.all(pids.map((pid) => cpuSecondsOf(pid)));
  return each.some((s) => s === null) ? null : each.reduce<number>((sum, s) => sum + s!, 0);
}

/**
 * The cost of `drain`: masters' CPU and per-command calls and time over it, and the CPU of the
 * processes `pids` (the side's worker processes) over it: steadier than its rate on a shared machine.
 */
async function measureStore(system: BenchSystem, pids: number[], drain: () => Promise<DrainTiming>) {
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

/** Rows of the costliest commands of either side, per order: calls and µs for each side. */
function commandRows(
  a: Array<{ command: string } & CommandCost>,
  aOrders: number,
  b: Array<{ command: string } & CommandCost>,
  bOrders: number,
): string[][] {
  const names = [...new Set([...a.slice(0, 8), ...b.slice(0, 8)].map((c) => c.command))];
  const cell = (list: typeof a, name: string, orders: number) => {
    const cost = list.find((c) => c.command === name);
    return cost ? [fixed(cost.calls / orders, 2), fixed(cost.usec / orders, 1)] : ['0', '0'];
  };
  return names.map((name) => [name, ...cell(a, name, aOrders), ...cell(b, name, bOrders)]);
}

/** Both systems work off the same number of four-step chains from paused queues, with equal processes. */
export const pipelineScenario: Scenario = {
  name: 'pipeline',
  title: 'full system at STEP_MS=0 vs raw BullMQ Workers with no-op steps',
  estimateS: 45,
  async run(ctx) {
    const { quick, log } = ctx;
    const orders = quick ? 600 : 6000;
    const timeoutMs = quick ? 60_000 : 300_000;
    return withBenchSystem({ ...ctx, scenario: 'pipeline' }, async (system) => {
      const nsA = system.namespace('pipe');
      const ksA = system.keyspace(nsA);
      await setQueuesPaused(system.store, ksA, true);
      const api = await system.startApi(nsA);
      const env = { STEP_MS: '0', STEP_FAILURE_RATE: '0' };
      const [nodes, load] = await Promise.all([
        system.startNodes(nsA, PROCESSES, env),
        placeLoad(api.url, { orders, concurrency: 50 }),
      ]);
      log(`orderflow: ${load.ids.length} orders placed on paused queues; resuming`);
      const a = await measureStore(
        system,
        nodes.map((n) => n.pid),
        () => timeDrain(system.store, ksA, load.ids.length * STEPS, timeoutMs),
      );
      const { timing: of, storeMs: storeMsA } = a;
      const { orders: records } = await readRecords(system.store, ksA, load.ids);
      const completed = records.filter((o) => o.status === 'completed').length;
      await Promise.all([...nodes, api.process].map((p) => p.stop()));
      log(`orderflow: ${fixed(ordersPerS(of.steady_jobs_per_s))} orders/s steady, ${completed} completed`);

      const nsB = system.namespace('raw');
      const ksB = system.keyspace(nsB);
      await setQueuesPaused(system.store, ksB, true);
      const raw = await system.startNodes(
        nsB,
        PROCESSES,
        {},
        { prefix: 'raw', entry: 'stress/baselines/raw-step-workers.ts' },
      );
      await addChains(system, nsB, load.ids.length);
      const b = await measureStore(
        system,
        raw.map((n) => n.pid),
        () => timeDrain(system.store, ksB, load.ids.length * STEPS, timeoutMs),
      );
      const { timing: base, storeMs: storeMsB } = b;
      await Promise.all(raw.map((p) => p.stop()));
      log(`raw BullMQ: ${fixed(ordersPerS(base.steady_jobs_per_s))} orders/s steady`);

      const steadyA = ordersPerS(of.steady_jobs_per_s);
      const steadyB = ordersPerS(base.steady_jobs_per_s);
      const ratio = steadyA !== null && steadyB ? steadyA / steadyB : null;
      const row = (name: string, t: DrainTiming, storeMs: number, nodesMs: number | null) => [
        name,
        `${t.done / STEPS} / ${t.jobs / STEPS}`,
        fixed(t.seconds, 2),
        fixed(ordersPerS(t.overall_jobs_per_s)),
        fixed(ordersPerS(t.steady_jobs_per_s)),
        fixed(storeMs / (t.done / STEPS), 3),
        nodesMs === null ? '–' : fixed(nodesMs / (t.done / STEPS), 3),
      ];
      return {
        headline: {
          measure: `orders/s, STEP_MS=0, ${PROCESSES} processes (steady 10–90 %)`,
          orderflow: fixed(steadyA),
          baseline: fixed(steadyB),
          ratio: fixed(ratio, 2),
          target: '≥ 0.75',
          met: ratio !== null && ratio >= 0.75 && completed === load.ids.length,
        },
        tables: [
          {
            title: `${load.ids.length} four-step orders from paused queues`,
            columns: [
              'system',
              'orders done',
              'seconds',
              'orders/s overall',
              'orders/s steady',
              'masters CPU ms per order',
              'worker processes CPU ms per order',
            ],
            rows: [
              row('orderflow worker nodes', of, storeMsA, a.nodesMs),
              row('raw BullMQ Workers', base, storeMsB, b.nodesMs),
            ],
          },
          {
            title: 'Store commands per order over each drain (masters, INFO commandstats), costliest first',
            columns: ['command', 'orderflow calls', 'orderflow µs', 'raw calls', 'raw µs'],
            rows: commandRows(a.commands, of.done / STEPS, b.commands, base.done / STEPS),
          },
        ],
        notes: [
          `Each side runs ${PROCESSES} processes with one Worker per shard queue (12); orderflow behind its node-wide gate of 50 slots, raw BullMQ with concurrency 50 per Worker.`,
          "orderflow steps make two fenced writes each (start, complete), read the record only when the node has no copy of its own last write (an order's first step on that node), and log two lines; raw steps do nothing. Per step orderflow makes three round trips to the store (start, complete, BullMQ's move) where raw BullMQ makes one.",
          'The queues are paused while loading, so start-up and placement do not count; time runs from resume to the last completion.',
          "Masters' CPU (INFO cpu, user + sys) over each drain, per order: what each side costs the store; replicas spend about as much again applying it.",
          "Worker processes' CPU (user + sys, /proc) over each drain, per order: what each side's processes spend, steadier than the rate on a shared machine.",
          `orderflow records completed: ${completed} of ${load.ids.length}.`,
        ],
        data: {
          orders: load.ids.length,
          nodes_cpu_ms: { orderflow: a.nodesMs, baseline: b.nodesMs },
          orderflow: of,
          baseline: base,
          completed,
          placement: load.report.placement,
          commands: { orderflow: a.commands, baseline: b.commands },
        },
      };
    });
  },
};
