// One stress run, programmatically: place, retry refusals, track to the end, report. The CLI wraps it.
import { checkReachable } from './api-client.js';
import { checkCancelled } from './cancel-check.js';
import { createCanceller } from './canceller.js';
import { createOrderSource, newRunId } from './order-source.js';
import { type Ack, runPlacement } from './placement.js';
import { createProgress, type ProgressStream } from './progress.js';
import { createRetrier } from './retrier.js';
import { createSseTracker } from './sse-tracker.js';
import { createStoreLoadMeter } from './store-load.js';
import { type StressOptions, stressOptions } from './stress-options.js';
import { type CancelReport, placementReport, runProblems, type StressReport } from './stress-report.js';
import { resolveSystemParameters } from './system-parameters.js';
import { createTracker, type TrackResult } from './tracker.js';
import { trackingReport } from './tracking-report.js';

export interface StressDeps {
  /** Where progress goes when `options.progress` is on; default stderr. */
  progressStream?: ProgressStream;
  /** Aborting ends placement, retries and tracking early; the report covers what happened. */
  signal?: AbortSignal;
  /** Called with every acknowledged order (the benchmarks collect ids this way). */
  onAck?(ack: Ack): void;
}

/** How long tracking may take after placement: twice the backlog's drain time at capacity, plus slack. */
export function trackingDeadlineMs(acks: number, stepMs: number, capacityStepsPerS: number | null): number {
  // Unknown capacity: assume one node of 50 slots, the smallest cluster npm start runs.
  const capacity = capacityStepsPerS ?? (50 * 1000) / Math.max(stepMs, 1);
  const drainMs = ((acks * 4) / capacity) * 1000;
  return 2 * drainMs + 8 * stepMs + 30_000;
}

/**
 * Runs a stress run against the API at `input.url` and returns its report. Throws
 * ApiUnreachableError when the API does not answer GET /health.
 */
export async function runStress(
  input: Partial<StressOptions> & { url: string },
  deps: StressDeps = {},
): Promise<StressReport> {
  const options = stressOptions(input);
  const { signal } = deps;
  await checkReachable(options.url);
  const system = await resolveSystemParameters(options);
  const runId = newRunId();
  const startedAt = new Date();
  const progress = createProgress(options.progress ? (deps.progressStream ?? process.stderr) : null);

  const seen = new Set<string>();
  const follow = options.trackVia === 'sse' ? createSseTracker : createTracker;
  const tracker = options.track
    ? follow({ url: options.url, concurrency: options.pollConcurrency, stepMs: system.step_ms })
    : null;
  const canceller = createCanceller({ url: options.url, rate: options.cancelRate, stepMs: system.step_ms });
  const meter = options.storeSeeds ? createStoreLoadMeter(options.storeSeeds) : null;
  await meter?.start();
  const onAck = (ack: Ack) => {
    // A retry after a 503 whose write did land returns the same order: count it once.
    if (seen.has(ack.orderId)) return;
    seen.add(ack.orderId);
    tracker?.add(ack);
    canceller.consider(ack.orderId);
    deps.onAck?.(ack);
  };
  const retrier = createRetrier({ url: options.url, retries: options.retries, onAck, signal });

  let answered = 0;
  const placingStarted = Date.now();
  const placingReading = () => {
    const elapsed = (Date.now() - placingStarted) / 1000;
    const fraction = options.orders
      ? answered / options.orders
      : Math.min(1, elapsed / (options.durationS ?? Number.POSITIVE_INFINITY));
    const rate = elapsed > 0 ? Math.round(answered / elapsed) : 0;
    const total = options.orders ? `/${options.orders}` : '';
    return {
      phase: 'placing',
      fraction,
      detail: `${answered}${total} answered, ${seen.size} placed, ${rate} req/s, ${retrier.stats.retried} refused`,
    };
  };
  const placement = await runPlacement({
    url: options.url,
    source: createOrderSource(runId, options.users),
    connections: options.concurrency,
    orders: options.orders,
    durationS: options.durationS,
    rate: options.rate,
    onAck,
    onRefused: retrier.submit,
    onResponse() {
      answered++;
      progress.update(placingReading());
    },
    signal,
  });
  progress.done(placingReading());

  if (retrier.pending > 0) {
    const reading = () => ({
      phase: 'retrying',
      fraction: null,
      detail: `${retrier.pending} refused orders waiting`,
    });
    const timer = setInterval(() => progress.update(reading()), 200);
    await retrier.drain();
    clearInterval(timer);
    progress.done(reading());
  }

  let tracked: TrackResult | null = null;
  if (tracker) {
    const reading = () => ({
      phase: 'tracking',
      fraction: tracker.tracked ? tracker.terminal / tracker.tracked : 1,
      detail: `${tracker.terminal}/${tracker.tracked} finished`,
    });
    const timer = setInterval(() => progress.update(reading()), 200);
    const deadline =
      Date.now() +
      (options.trackTimeoutS !== undefined
        ? options.trackTimeoutS * 1000
        : trackingDeadlineMs(seen.size, system.step_ms, system.capacity_steps_per_s));
    const stallMs = Math.max(60_000, 6 * system.step_ms);
    tracked = await tracker.finish(deadline, stallMs, signal);
    clearInterval(timer);
    progress.done(reading());
  }
  await canceller.drain();
  const storeLoad = (await meter?.stop()) ?? null;
  await meter?.close();

  const placed = placementReport(placement, seen.size, retrier.stats);
  const tracking = tracked
    ? trackingReport(tracked, system, placed.acknowledged_per_s, options.trackVia)
    : null;
  let cancels: CancelReport | null = null;
  if (tracked && options.cancelRate > 0) {
    const { cancelled, violations } = checkCancelled(tracked.finished);
    const { byOrder } = canceller.stats;
    const accepted = tracked.finished.filter((o) => [200, 202].includes(byOrder.get(o.order_id) ?? 0));
    cancels = {
      asked: canceller.stats.asked,
      answers: canceller.stats.answers,
      cancelled,
      violations,
      accepted_not_cancelled: accepted.filter((o) => o.status !== 'cancelled').length,
    };
  }
  return {
    run_id: runId,
    url: options.url,
    started_at: startedAt.toISOString(),
    finished_at: new Date().toISOString(),
    options: {
      orders: options.orders ?? null,
      duration_s: options.durationS ?? null,
      concurrency: options.concurrency,
      users: options.users,
      rate: options.rate ?? null,
      track: options.track,
      track_via: options.trackVia,
      cancel_rate: options.cancelRate,
      retries: options.retries,
    },
    system,
    placement: placed,
    tracking,
    cancels,
    store_load: storeLoad,
    problems: [...runProblems(placed, tracking, cancels), ...(signal?.aborted ? ['interrupted'] : [])],
  };
}
