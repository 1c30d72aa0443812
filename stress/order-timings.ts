// Timings read from order records (server clocks, millisecond ISO times): the source of every latency
// the stress tool and the benchmarks report beyond the HTTP round trip. Pure, no I/O.
import { isTerminal, type OrderRecord, type StepName } from '../shared/domain/order.js';

/** One run of one step, as its attempt records it. */
export interface StepRun {
  orderId: string;
  step: StepName;
  nodeId: string;
  start: number;
  /** Epoch ms, or null while it runs or after its node died. */
  end: number | null;
  outcome: string;
}

const at = (iso: string | null | undefined): number | null => (iso ? Date.parse(iso) : null);

/** created_at → completed_at of a finished order, in ms; null while it runs. */
export function endToEndMs(order: OrderRecord): number | null {
  if (!isTerminal(order.status)) return null;
  const created = at(order.created_at);
  const done = at(order.completed_at);
  return created !== null && done !== null ? done - created : null;
}

/** First step's first start → completed_at: the order's time in the pipeline, without its first wait. */
export function processingMs(order: OrderRecord): number | null {
  const first = at(order.steps[0]?.attempts[0]?.started_at);
  const done = at(order.completed_at);
  return isTerminal(order.status) && first !== null && done !== null ? done - first : null;
}

/** Every attempt of every step of `orders`. */
export function stepRuns(orders: readonly OrderRecord[]): StepRun[] {
  const runs: StepRun[] = [];
  for (const order of orders) {
    for (const step of order.steps) {
      for (const attempt of step.attempts) {
        runs.push({
          orderId: order.order_id,
          step: step.name,
          nodeId: attempt.node_id,
          start: Date.parse(attempt.started_at),
          end: at(attempt.ended_at),
          outcome: attempt.outcome,
        });
      }
    }
  }
  return runs;
}

/**
 * Dispatch gaps: for each step that completed, the time until the next step of the same order first
 * started (completion committed → next start committed), in ms. With `window`, only completions
 * inside it count (a benchmark's steady state, without ramp-up and drain).
 */
export function dispatchGaps(
  orders: readonly OrderRecord[],
  window?: { from: number; to: number },
): number[] {
  const gaps: number[] = [];
  for (const order of orders) {
    for (let i = 0; i + 1 < order.steps.length; i++) {
      const done = order.steps[i]!;
      if (done.status !== 'completed' && done.status !== 'compensated') continue;
      const completed = at(done.completed_at);
      const nextStart = at(order.steps[i + 1]!.attempts[0]?.started_at);
      if (completed === null || nextStart === null) continue;
      if (window && (completed < window.from || completed > window.to)) continue;
      gaps.push(nextStart - completed);
    }
  }
  return gaps;
}

/**
 * Steps per second finished inside [from, to], counting each run by the fraction of it that lies in
 * the window. Unlike counting completions, this does not jump when a wave of equally long steps
 * ends just inside or just outside the window. Runs without an end are left out.
 */
export function windowThroughput(runs: readonly StepRun[], from: number, to: number): number {
  if (to <= from) return 0;
  let steps = 0;
  for (const run of runs) {
    if (run.end === null || run.end <= run.start) continue;
    const overlap = Math.min(run.end, to) - Math.max(run.start, from);
    if (overlap > 0) steps += overlap / (run.end - run.start);
  }
  return steps / ((to - from) / 1000);
}

/** How long the steps a node held when it was killed took to start again elsewhere. */
export interface RecoveryDelays {
  /** Per step that resumed: next attempt's start − kill time, in ms. */
  resumedMs: number[];
  /** Steps of the node that had not resumed when read. */
  pending: number;
}

/** Recovery of the steps `nodeId` was running at `killedAt` (epoch ms), from their attempt histories. */
export function recoveryDelays(
  orders: readonly OrderRecord[],
  nodeId: string,
  killedAt: number,
): RecoveryDelays {
  const resumedMs: number[] = [];
  let pending = 0;
  for (const order of orders) {
    for (const step of order.steps) {
      const index = step.attempts.findIndex(
        (a) =>
          a.node_id === nodeId &&
          (a.outcome === 'abandoned' || a.outcome === 'running') &&
          Date.parse(a.started_at) <= killedAt,
      );
      if (index === -1) continue;
      const next = step.attempts[index + 1];
      if (next) resumedMs.push(Date.parse(next.started_at) - killedAt);
      else pending++;
    }
  }
  return { resumedMs, pending };
}

/** Failed orders by cause: the simulated business failure, or anything else (lost nodes, errors). */
export function failureCauses(orders: readonly OrderRecord[]): { simulated: number; other: number } {
  let simulated = 0;
  let other = 0;
  for (const order of orders) {
    if (order.status !== 'failed') continue;
    if (order.failure?.reason.includes('simulated')) simulated++;
    else other++;
  }
  return { simulated, other };
}
