// N worker nodes kept saturated for a window of time, measured from the order records afterwards.
import { setTimeout as sleep } from 'node:timers/promises';
import type { OrderRecord } from '../../shared/domain/order.js';
import type { Keyspace } from '../../shared/keys.js';
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
  /**
   * How the slots fill. `spread` (default): the first order of each slot is placed at an even rate
   * over one step, as arrivals under steady load would, then the backlog. `burst`: the backlog is
   * loaded on paused queues and every slot starts at once on resume, so their steps end in waves
   * (each one as wide as the store takes to serve it) that never spread out, steps being equally long.
   */
  start?: 'spread' | 'burst';
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
 * Starts `nodes` worker nodes, fills every slot (spread over one step, or at once: see `start`) with a
 * backlog behind, and measures steps per second inside a window that begins once every slot is
 * filled and the backlog placed, and ends before the backlog could run out. The nodes then drain
 * gracefully, so every step in the window has its end.
 */
export async function runSaturated(
  system: BenchSystem,
  options: SaturatedRunOptions,
  log: BenchLog,
): Promise<SaturatedRun> {
  return options.start === 'burst' ? runBurst(system, options, log) : runSpread(system, options, log);
}

/** What both ways of starting share: slots, a fresh namespace, the nodes' environment. */
function planRun(system: BenchSystem, options: SaturatedRunOptions) {
  const concurrency = options.concurrency ?? 50;
  const ns = system.namespace(`n${options.nodes}`);
  return {
    ...options,
    concurrency,
    slots: options.nodes * concurrency,
    ns,
    keyspace: system.keyspace(ns),
    env: { STEP_MS: String(options.stepMs), STEP_FAILURE_RATE: '0', WORKER_CONCURRENCY: String(concurrency) },
  };
}

async function runSpread(
  system: BenchSystem,
  options: SaturatedRunOptions,
  log: BenchLog,
): Promise<SaturatedRun> {
  const { nodes, stepMs, windowMs, concurrency, slots, ns, keyspace, env } = planRun(system, options);
  const api = await system.startApi(ns);
  const spawned = Date.now();
  const children = await system.startNodes(ns, nodes, env, { prefix: `n${nodes}` });
  const startup_s = (Date.now() - spawned) / 1000;
  log(`${nodes} node(s) up in ${startup_s.toFixed(1)} s; filling ${slots} slots over ${stepMs} ms`);

  const started = Date.now();
  const fill = await placeLoad(api.url, {
    orders: slots,
    concurrency: Math.min(50, slots),
    rate: slots / (stepMs / 1000),
  });
  let ids = fill.ids;
  if (!options.closedLoop) {
    // Enough new orders for every slot that frees (an order holds its slot for its four steps) until
    // the window ends, counting the time placing them takes, with a quarter to spare.
    const steps = (windowMs + stepMs + 15_000) / stepMs + 3;
    const backlog = await placeLoad(api.url, {
      orders: Math.ceil(((slots * steps) / 4) * 1.25),
      concurrency: 50,
    });
    ids = [...ids, ...backlog.ids];
    log(`${ids.length} orders placed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  const from = Math.max(started + stepMs + 500, Date.now() + 500);
  const to = options.closedLoop ? started + 4 * stepMs : from + windowMs;
  await sleep(Math.max(0, to - Date.now()));
  await Promise.all(children.map((child) => child.stop(stepMs + 20_000)));
  await api.process.stop();
  return measure(system, keyspace, ids, { nodes, slots, stepMs, concurrency, startup_s, from, to });
}

/** The figures of a saturated run, read from its order records. */
async function measure(
  system: BenchSystem,
  keyspace: Keyspace,
  ids: string[],
  run: {
    nodes: number;
    slots: number;
    stepMs: number;
    concurrency: number;
    startup_s: number;
    from: number;
    to: number;
  },
): Promise<SaturatedRun> {
  const { nodes, slots, stepMs, concurrency, startup_s, from, to } = run;
  const { orders: records } = await readRecords(system.store, keyspace, ids);
  const runs = stepRuns(records).filter((r) => r.end !== null);
  const capacity = littleCapacity(nodes, concurrency, stepMs)!;
  const stepsPerS = windowThroughput(runs, from, to);
  return {
    nodes,
    slots,
    stepMs,
    orders: ids.length,
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

async function runBurst(
  system: BenchSystem,
  options: SaturatedRunOptions,
  log: BenchLog,
): Promise<SaturatedRun> {
  const { nodes, stepMs, windowMs, concurrency, slots, ns, keyspace, env } = planRun(system, options);
  const steps = windowMs / stepMs + 3;
  const orders = options.closedLoop ? slots : Math.ceil(((slots * steps) / 4) * 1.25) + slots;
  await setQueuesPaused(system.store, keyspace, true);
  const api = await system.startApi(ns);
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
  return measure(system, keyspace, load.ids, { nodes, slots, stepMs, concurrency, startup_s, from, to });
}
