// N worker nodes kept saturated for a window of time, measured from the order records afterwards.
import { setTimeout as sleep } from 'node:timers/promises';
import type { OrderRecord } from '../../shared/domain/order.js';
import { dispatchGaps, type StepRun, stepRuns, windowThroughput } from '../order-timings.js';
import { littleCapacity } from '../report-math.js';
import type { BenchLog, BenchSystem } from './bench-system.js';
import { placeLoad } from './load.js';
import { readRecords, setQueuesPaused } from './store-reads.js';

export interface SaturatedRunOptions {
  nodes: number;
  stepMs: number;
  windowMs: number;
  /** Exactly one order per slot and no backlog (closed loop), instead of a backlog that outlasts the window. */
  closedLoop?: boolean;
  concurrency?: number;
}

export interface SaturatedRun {
  nodes: number;
  slots: number;
  stepMs: number;
  orders: number;
  window: { from: number; to: number };
  capacity_steps_per_s: number;
  steps_per_s: number;
  ratio: number;
  /** Next-step gaps of completions inside the window, ms. */
  gaps: number[];
  /** Node processes' start until all registered, s. */
  startup_s: number;
  runs: StepRun[];
  records: OrderRecord[];
}

/**
 * Loads a backlog on paused queues while `nodes` worker nodes start, resumes, and measures steps per
 * second inside a window that begins one step after resume (every slot filled) and ends before the
 * backlog could run out. The nodes then drain gracefully, so every step in the window has its end.
 */
export async function runSaturated(
  system: BenchSystem,
  options: SaturatedRunOptions,
  log: BenchLog,
): Promise<SaturatedRun> {
  const { nodes, stepMs, windowMs } = options;
  const concurrency = options.concurrency ?? 50;
  const slots = nodes * concurrency;
  const steps = windowMs / stepMs + 3;
  const orders = options.closedLoop ? slots : Math.ceil(((slots * steps) / 4) * 1.25) + slots;
  const ns = system.namespace(`n${nodes}`);
  const keyspace = system.keyspace(ns);
  await setQueuesPaused(system.store, keyspace, true);
  const api = await system.startApi(ns);
  const env = { STEP_MS: String(stepMs), STEP_FAILURE_RATE: '0', WORKER_CONCURRENCY: String(concurrency) };
  const spawned = Date.now();
  const [children, load] = await Promise.all([
    system.startNodes(ns, nodes, env, { prefix: `n${nodes}` }).then((c) => ({ c, at: Date.now() })),
    placeLoad(api.url, { orders, concurrency: Math.min(50, orders) }),
  ]);
  const startup_s = (children.at - spawned) / 1000;
  log(`${nodes} node(s) up in ${startup_s.toFixed(1)} s, ${load.ids.length} orders waiting; resuming`);

  const resumed = Date.now();
  await setQueuesPaused(system.store, keyspace, false);
  const from = resumed + (options.closedLoop ? 500 : stepMs + 500);
  const to = options.closedLoop ? resumed + 4 * stepMs : from + windowMs;
  await sleep(Math.max(0, to - Date.now()));
  await Promise.all(children.c.map((child) => child.stop(stepMs + 20_000)));
  await api.process.stop();

  const { orders: records } = await readRecords(system.store, keyspace, load.ids);
  const runs = stepRuns(records).filter((r) => r.end !== null);
  const capacity = littleCapacity(nodes, concurrency, stepMs)!;
  const stepsPerS = windowThroughput(runs, from, to);
  return {
    nodes,
    slots,
    stepMs,
    orders: load.ids.length,
    window: { from, to },
    capacity_steps_per_s: capacity,
    steps_per_s: stepsPerS,
    ratio: stepsPerS / capacity,
    gaps: dispatchGaps(records, { from, to }),
    startup_s,
    runs,
    records,
  };
}
