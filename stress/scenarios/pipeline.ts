// Pipeline overhead: orderflow's nodes at STEP_MS=0 vs raw BullMQ Workers on the same chains, no-op steps.
import { FlowProducer } from 'bullmq';
import { orderFlow } from '../../shared/order-flow.js';
import { newOrderId } from '../../shared/order-id.js';
import { shardOf } from '../../shared/sharding.js';
import type { BenchSystem } from '../harness/bench-system.js';
import { withBenchSystem } from '../harness/bench-system.js';
import { commandsPer, ratioOf } from '../harness/cost-math.js';
import { timeDrain } from '../harness/drain.js';
import { type DrainCost, measureDrain } from '../harness/drain-cost.js';
import { fixed, placeLoad } from '../harness/load.js';
import type { Scenario } from '../harness/scenario.js';
import { readRecords, setQueuesPaused } from '../harness/store-reads.js';

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

/** The raw baseline's processes on `orders` chains from paused queues, drained and measured. */
async function runRaw(
  system: BenchSystem,
  label: string,
  concurrency: 'split' | 'per-worker',
  orders: number,
  timeoutMs: number,
): Promise<DrainCost> {
  const ns = system.namespace(label);
  const keyspace = system.keyspace(ns);
  await setQueuesPaused(system.store, keyspace, true);
  const raw = await system.startNodes(
    ns,
    PROCESSES,
    { RAW_CONCURRENCY: concurrency },
    { prefix: label, entry: 'stress/baselines/raw-step-workers.ts' },
  );
  await addChains(system, ns, orders);
  const cost = await measureDrain(
    system,
    raw.map((n) => n.pid),
    () => timeDrain(system.store, keyspace, orders * STEPS, timeoutMs),
  );
  await Promise.all(raw.map((p) => p.stop()));
  return cost;
}

const ordersPerS = (jobsPerS: number | null) => (jobsPerS === null ? null : jobsPerS / STEPS);
const ordersDone = (cost: DrainCost) => cost.timing.done / STEPS;

/** Rows of the costliest commands of any side, per step: calls and µs for each side. */
function commandRows(sides: DrainCost[]): string[][] {
  const names = [...new Set(sides.flatMap((s) => s.commands.slice(0, 8).map((c) => c.command)))];
  return names.map((name) => [
    name,
    ...sides.flatMap((side) => {
      const cost = side.commands.find((c) => c.command === name);
      const steps = side.timing.done;
      return cost && steps ? [fixed(cost.calls / steps, 3), fixed(cost.usec / steps, 2)] : ['0', '0'];
    }),
  ]);
}

/** One line of the main table: what one side did and cost. */
function sideRow(name: string, cost: DrainCost): string[] {
  const t = cost.timing;
  const orders = ordersDone(cost);
  const perStep = commandsPer(cost.commands, t.done);
  return [
    name,
    `${orders} / ${t.jobs / STEPS}`,
    fixed(t.seconds, 2),
    fixed(ordersPerS(t.overall_jobs_per_s)),
    fixed(ordersPerS(t.steady_jobs_per_s)),
    fixed(cost.storeMs / orders, 3),
    fixed(perStep?.calls, 2),
    fixed(perStep?.evalsha, 2),
    cost.nodesMs === null ? '–' : fixed(cost.nodesMs / orders, 3),
  ];
}

/**
 * The same number of four-step chains worked off from paused queues by three sides in turn: orderflow's
 * nodes, raw BullMQ as wide as a node (the fair baseline), and raw BullMQ at 50 per Worker (uncapped).
 */
export const pipelineScenario: Scenario = {
  name: 'pipeline',
  title: 'full system at STEP_MS=0 vs raw BullMQ Workers with no-op steps, fair and uncapped',
  estimateS: 70,
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
      const a = await measureDrain(
        system,
        nodes.map((n) => n.pid),
        () => timeDrain(system.store, ksA, load.ids.length * STEPS, timeoutMs),
      );
      const { orders: records } = await readRecords(system.store, ksA, load.ids);
      const completed = records.filter((o) => o.status === 'completed').length;
      await Promise.all([...nodes, api.process].map((p) => p.stop()));
      log(
        `orderflow: ${fixed(ordersPerS(a.timing.steady_jobs_per_s))} orders/s steady, ${completed} completed`,
      );

      const fair = await runRaw(system, 'rawfair', 'split', load.ids.length, timeoutMs);
      log(`raw BullMQ, 50 per process: ${fixed(ordersPerS(fair.timing.steady_jobs_per_s))} orders/s steady`);
      const uncapped = await runRaw(system, 'rawfull', 'per-worker', load.ids.length, timeoutMs);
      log(
        `raw BullMQ, 50 per Worker: ${fixed(ordersPerS(uncapped.timing.steady_jobs_per_s))} orders/s steady`,
      );

      const rate = (c: DrainCost) => ordersPerS(c.timing.steady_jobs_per_s);
      const cpuPerOrder = (c: DrainCost) => c.storeMs / ordersDone(c);
      const ratio = ratioOf(rate(a), rate(fair));
      const cpuRatio = ratioOf(cpuPerOrder(a), cpuPerOrder(fair));
      const perStep = [a, fair, uncapped].map((c) => commandsPer(c.commands, c.timing.done));
      return {
        headline: {
          measure: `orders/s, STEP_MS=0, ${PROCESSES} processes of 50 in flight (steady 10–90 %); masters' CPU per order`,
          orderflow: `${fixed(rate(a))}; ${fixed(cpuPerOrder(a), 3)} ms`,
          baseline: `${fixed(rate(fair))}; ${fixed(cpuPerOrder(fair), 3)} ms (uncapped ${fixed(rate(uncapped))})`,
          ratio: `${fixed(ratio, 2)}; CPU ${fixed(cpuRatio, 2)}×`,
          target: '≥ 0.75; CPU ≤ 1.5×',
          met:
            ratio !== null &&
            ratio >= 0.75 &&
            cpuRatio !== null &&
            cpuRatio <= 1.5 &&
            completed === load.ids.length,
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
              'store commands per step (with those inside scripts)',
              'scripts (EVALSHA) per step',
              'worker processes CPU ms per order',
            ],
            rows: [
              sideRow('orderflow worker nodes (gate of 50 per node)', a),
              sideRow('raw BullMQ, fair: 50 per process, split over 12 Workers', fair),
              sideRow('raw BullMQ, uncapped: 50 per Worker, 600 per process', uncapped),
            ],
          },
          {
            title: 'Store commands per step over each drain (masters, INFO commandstats), costliest first',
            columns: [
              'command',
              'orderflow calls',
              'orderflow µs',
              'fair calls',
              'fair µs',
              'uncapped calls',
              'uncapped µs',
            ],
            rows: commandRows([a, fair, uncapped]),
          },
        ],
        notes: [
          `Each side runs ${PROCESSES} processes with one Worker per shard queue (12). orderflow: behind its node-wide gate of 50 slots. Fair raw BullMQ: the same 50 split over the Workers (two of 5, ten of 4; BullMQ's concurrency is per Worker). Uncapped raw BullMQ: 50 per Worker, the row this scenario reported alone before.`,
          "The headline compares orderflow with the fair row. Commands per step come from the masters' INFO commandstats before and after the drain, divided by the steps completed. Redis counts the commands a script runs as well as the EVALSHA that ran it, so the first figure is the store's work per step, and EVALSHA per step is the scripts' round trips (BullMQ's moves and orderflow's fenced writes). Neither depends on the machine's load, unlike orders/s and CPU. They include the bench's own sampling (12 ZCARD every 100 ms) and the heartbeats, on both sides alike.",
          "orderflow steps make two fenced writes each (the start; the completion, inside BullMQ's move of the job: docs/adr/0023), read the record only when the node has no copy of its own last write (an order's first step on that node), and log two lines; raw steps do nothing. Per step orderflow makes two round trips to the store (the start; the completion with BullMQ's move) where raw BullMQ makes one.",
          'The queues are paused while loading, so start-up and placement do not count; time runs from resume to the last completion.',
          "Masters' CPU (INFO cpu, user + sys) over each drain, per order: what each side costs the store; replicas spend about as much again applying it.",
          `orderflow records completed: ${completed} of ${load.ids.length}.`,
        ],
        data: {
          orders: load.ids.length,
          nodes_cpu_ms: { orderflow: a.nodesMs, fair: fair.nodesMs, uncapped: uncapped.nodesMs },
          store_cpu_ms: { orderflow: a.storeMs, fair: fair.storeMs, uncapped: uncapped.storeMs },
          commands_per_step: { orderflow: perStep[0], fair: perStep[1], uncapped: perStep[2] },
          orderflow: a.timing,
          baseline: fair.timing,
          uncapped: uncapped.timing,
          completed,
          placement: load.report.placement,
          commands: { orderflow: a.commands, fair: fair.commands, uncapped: uncapped.commands },
        },
      };
    });
  },
};
