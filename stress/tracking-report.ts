// The tracking section of a stress report, from the records of the orders followed to their end. Pure.
import type { OrderRecord } from '../shared/domain/order.js';
import {
  dispatchGaps,
  endToEndMs,
  failureCauses,
  processingMs,
  stepRuns,
  windowThroughput,
} from './order-timings.js';
import { distribution, expectedOrderFailureRate, ratio, wilsonInterval } from './report-math.js';
import type { SystemParameters, TrackingReport } from './stress-report.js';
import type { TrackResult } from './tracker.js';

/** The tracking section, from the finished records and what was left. */
export function trackingReport(
  result: TrackResult,
  system: SystemParameters,
  offeredOrdersPerS: number,
  via: TrackingReport['via'] = 'poll',
): TrackingReport {
  const finished: OrderRecord[] = result.finished;
  const cancelled = finished.filter((o) => o.status === 'cancelled').length;
  // A cancelled order tells nothing of the failure rate: it ran neither to its end nor to a failure.
  const orders = finished.filter((o) => o.status !== 'cancelled');
  const completed = orders.filter((o) => o.status === 'completed');
  const failed = orders.length - completed.length;
  const e2e = completed.map(endToEndMs).filter((v): v is number => v !== null);
  const runs = stepRuns(finished).filter(
    (r) => r.end !== null && (r.outcome === 'completed' || r.outcome === 'failed'),
  );
  // A loop, not Math.min(...runs): spreading 100k+ arguments overflows the stack.
  let from = Number.POSITIVE_INFINITY;
  let to = Number.NEGATIVE_INFINITY;
  for (const run of runs) {
    from = Math.min(from, run.start);
    to = Math.max(to, run.end!);
  }
  const stepsPerS = runs.length > 0 ? windowThroughput(runs, from, to) : 0;
  // After the last start no step begins, so the slots only empty: leave that drain (and the first
  // step's ramp-up) out of the steady figure.
  let lastStart = Number.NEGATIVE_INFINITY;
  for (const run of runs) lastStart = Math.max(lastStart, run.start);
  const steadyFrom = from + system.step_ms;
  const steady =
    lastStart - steadyFrom >= Math.max(1000, system.step_ms)
      ? windowThroughput(runs, steadyFrom, lastStart)
      : null;
  const expected = expectedOrderFailureRate(system.failure_rate);
  const ci95 = wilsonInterval(failed, orders.length);
  const stuckByStatus: Record<string, number> = {};
  for (const { last } of result.stuck) {
    const key = last ? `${last.status}/${last.current_step}` : 'never read';
    stuckByStatus[key] = (stuckByStatus[key] ?? 0) + 1;
  }
  // Failed orders run fewer steps than four: use the steps an order actually took on average.
  const offered = offeredOrdersPerS * (finished.length ? runs.length / finished.length : 4);
  return {
    tracked: finished.length + result.stuck.length + result.lost.length,
    via,
    completed: completed.length,
    failed,
    cancelled,
    stuck: result.stuck.length,
    lost: result.lost.length,
    stuck_by_status: stuckByStatus,
    stopped_by: result.stoppedBy,
    polls: result.polls,
    poll_errors: result.pollErrors,
    failure: {
      observed_rate: orders.length ? failed / orders.length : null,
      ci95,
      expected_rate: expected,
      consistent: orders.length > 0 && expected >= ci95.low && expected <= ci95.high,
      causes: failureCauses(orders),
    },
    end_to_end_ms: distribution(e2e),
    processing_ms: distribution(completed.map(processingMs).filter((v): v is number => v !== null)),
    overhead_ms: distribution(e2e.map((ms) => ms - 4 * system.step_ms)),
    dispatch_gap_ms: distribution(dispatchGaps(orders)),
    throughput: {
      step_runs: runs.length,
      window_s: runs.length ? (to - from) / 1000 : 0,
      steps_per_s: stepsPerS,
      steady_steps_per_s: steady,
      capacity_steps_per_s: system.capacity_steps_per_s,
      ratio: ratio(steady ?? stepsPerS, system.capacity_steps_per_s),
      offered_steps_per_s: offered,
      saturated: system.capacity_steps_per_s !== null && offered >= system.capacity_steps_per_s,
    },
  };
}
