// The report of one stress run: its shape, the placement section and the verdict. Pure.
import type { PlacementResult } from './placement.js';
import { type Distribution, distribution, type Interval, littleCapacity } from './report-math.js';
import type { RetryStats } from './retrier.js';
import type { StoreLoad } from './store-load.js';
import type { TrackResult } from './tracker.js';

export interface CancelReport {
  asked: number;
  /** Answers by status: 202 cancelling, 200 cancelled at once (or already), 409 ended first. */
  answers: Record<string, number>;
  /** Orders that ended cancelled. */
  cancelled: number;
  /** Cancelled records whose undone steps are not exactly the completed ones, newest first. */
  violations: string[];
  /** Orders whose cancel was accepted (200/202) that did not end cancelled (a failure overtook it). */
  accepted_not_cancelled: number;
}

/** Where a system parameter came from. */
export type Source = 'flag' | 'api' | 'default' | 'unknown';

/** The system as the run saw it: step time, failure rate and the capacity of the live nodes. */
export interface SystemParameters {
  step_ms: number;
  step_ms_source: Source;
  failure_rate: number;
  failure_rate_source: Source;
  nodes: number | null;
  worker_concurrency: number | null;
  nodes_source: Source;
  /** Little's law: nodes × concurrency / STEP_MS, in steps per second; null when unknown or unbounded. */
  capacity_steps_per_s: number | null;
}

export interface PlacementReport {
  sent: number;
  answered: number;
  /** Distinct orders acknowledged with 202, first try or retried. */
  acknowledged: number;
  duration_s: number;
  requests_per_s: number;
  acknowledged_per_s: number;
  latency_ms: Distribution;
  /** First answers by status. */
  statuses: Record<string, number>;
  non_2xx: number;
  /** Requests without an answer, by cause. */
  errors: Record<string, number>;
  error_count: number;
  retries: RetryStats;
}

export interface TrackingReport {
  tracked: number;
  /** How the orders were followed. */
  via: 'poll' | 'sse';
  completed: number;
  failed: number;
  cancelled: number;
  stuck: number;
  lost: number;
  stuck_by_status: Record<string, number>;
  stopped_by: TrackResult['stoppedBy'];
  polls: number;
  poll_errors: number;
  failure: {
    observed_rate: number | null;
    ci95: Interval;
    expected_rate: number;
    /** Whether the expected rate lies inside the observed rate's 95 % interval. */
    consistent: boolean;
    causes: { simulated: number; other: number };
  };
  /** created → completed of completed orders. */
  end_to_end_ms: Distribution;
  /** First step's start → completed: end to end without the wait for a first slot. */
  processing_ms: Distribution;
  /** end_to_end − 4 × STEP_MS of completed orders: queueing, dispatch and record writes. */
  overhead_ms: Distribution;
  /** A step's completion → the next step's start, within one order. */
  dispatch_gap_ms: Distribution;
  throughput: {
    step_runs: number;
    window_s: number;
    /** Over the whole window: first step start → last step end, ramp-up and drain included. */
    steps_per_s: number;
    /** One step after the first start → the last start: slots full if the run saturated them. */
    steady_steps_per_s: number | null;
    capacity_steps_per_s: number | null;
    /** steady (else overall) / capacity: how close to Little's law, meaningful when the run saturated the nodes. */
    ratio: number | null;
    offered_steps_per_s: number;
    saturated: boolean;
  };
}

export interface StressReport {
  run_id: string;
  url: string;
  started_at: string;
  finished_at: string;
  options: Record<string, unknown>;
  system: SystemParameters;
  placement: PlacementReport;
  tracking: TrackingReport | null;
  /** With --cancel-rate: the cancels sent, their answers, and the check of every cancelled record. */
  cancels: CancelReport | null;
  /** With --store: what the tracking phase cost the store. */
  store_load: StoreLoad | null;
  /** Empty when the run was clean; each entry one line. */
  problems: string[];
}

const sum = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);

/** The placement section. */
export function placementReport(
  result: PlacementResult,
  acknowledged: number,
  retries: RetryStats,
): PlacementReport {
  const answered = result.latenciesMs.length;
  const duration = Math.max(0.001, (result.endedAt - result.startedAt) / 1000);
  const non2xx = Object.entries(result.statuses)
    .filter(([status]) => !status.startsWith('2'))
    .reduce((a, [, n]) => a + n, 0);
  return {
    sent: result.sent,
    answered,
    acknowledged,
    duration_s: duration,
    requests_per_s: answered / duration,
    acknowledged_per_s: acknowledged / duration,
    latency_ms: distribution(result.latenciesMs),
    statuses: result.statuses,
    non_2xx: non2xx,
    errors: result.errors,
    error_count: sum(result.errors),
    retries,
  };
}

/** Capacity of `nodes` nodes of `concurrency` slots at `stepMs`, or null when a factor is unknown. */
export function capacityOf(nodes: number | null, concurrency: number | null, stepMs: number): number | null {
  return nodes === null || concurrency === null ? null : littleCapacity(nodes, concurrency, stepMs);
}

/** The one-line problems that make a run fail (exit 1); an unexpected failure rate is not one. */
export function runProblems(
  placement: PlacementReport,
  tracking: TrackingReport | null,
  cancels: CancelReport | null = null,
): string[] {
  const problems: string[] = [];
  if (placement.error_count > 0) problems.push(`${placement.error_count} requests got no answer`);
  const refusedForGood = placement.retries.gaveUp;
  if (refusedForGood > 0) problems.push(`${refusedForGood} orders still refused after retries`);
  const rejected = Object.entries(placement.statuses)
    .filter(([s]) => s !== '202' && s !== '503' && s !== '429')
    .reduce((a, [, n]) => a + n, 0);
  if (rejected > 0) problems.push(`${rejected} placements answered neither 202 nor a retryable 503/429`);
  if (tracking?.lost) problems.push(`${tracking.lost} acknowledged orders are missing (404)`);
  if (tracking?.stuck)
    problems.push(`${tracking.stuck} orders did not finish (tracking ${tracking.stopped_by})`);
  if (cancels?.violations.length) {
    problems.push(`${cancels.violations.length} cancelled records undid other steps than the completed ones`);
  }
  return problems;
}
