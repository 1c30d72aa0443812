// The /stats summary and the chart series, computed from store counters, the registry and the queues.
import type { ActivityBucket, Counts } from '../shared/activity.js';
import type { NodeStats } from '../shared/node-registry.js';
import type { Operations } from './operations.js';
import { type ShardQueueCounts, shardQueueCounts } from './shard-map.js';

/** The window of the per-second rates in /stats. */
const RATE_WINDOW_MS = 60_000;

const round = (n: number, digits = 3) => Math.round(n * 10 ** digits) / 10 ** digits;
const ratio = (part: number, whole: number) => (whole > 0 ? round(part / whole, 4) : null);

/** Sums buckets and turns them into rates over the time they cover (the last one is partial). */
export function rates(buckets: ActivityBucket[], bucketMs: number, now: number) {
  const sum = (name: keyof Counts) => buckets.reduce((total, b) => total + b[name], 0);
  const first = buckets[0]?.start ?? now;
  const seconds = Math.max(1, (now - first) / 1000);
  const stepsDone = sum('steps_completed') + sum('steps_failed');
  // Cancelled orders ran neither to their end nor to a failure: not part of the failure rate.
  const ordersDone = sum('orders_completed') + sum('orders_failed');
  return {
    window_seconds: round(Math.min(seconds, (buckets.length * bucketMs) / 1000), 1),
    orders_placed_per_second: round(sum('orders_placed') / seconds),
    orders_completed_per_second: round(sum('orders_completed') / seconds),
    orders_failed_per_second: round(sum('orders_failed') / seconds),
    orders_cancelled_per_second: round(sum('orders_cancelled') / seconds),
    steps_per_second: round(stepsDone / seconds),
    /** Failed orders among the orders that finished in the window; null when none finished. */
    failure_rate: ratio(sum('orders_failed'), ordersDone),
    step_failure_rate: ratio(sum('steps_failed'), stepsDone),
  };
}

function nodeSummary(nodes: NodeStats[]) {
  return {
    alive: nodes.length,
    draining: nodes.filter((n) => n.state === 'draining').length,
    active_steps: nodes.reduce((total, n) => total + n.active, 0),
    capacity: nodes.reduce((total, n) => total + n.concurrency, 0),
  };
}

function backlogSummary(shards: ShardQueueCounts[]) {
  return {
    waiting: shards.reduce((total, s) => total + s.waiting, 0),
    active: shards.reduce((total, s) => total + s.active, 0),
    delayed: shards.reduce((total, s) => total + s.delayed, 0),
    by_shard: shards.map(({ shard, waiting, active, delayed }) => ({ shard, waiting, active, delayed })),
  };
}

/** The stats of the deployment: cluster-wide, whichever API process answers. */
export function createStatsReader(ops: Operations, now: () => number = Date.now) {
  return {
    /** What GET /stats answers. */
    async summary() {
      // Reads only: a public GET must not write. This process's own counts reach the store through
      // Operations' periodic flush and the flush after each stored order (orderCounter).
      const at = now();
      const [totals, recent, nodes, shards] = await Promise.all([
        ops.activity.totals(),
        ops.activity.history(RATE_WINDOW_MS),
        ops.nodes.list(),
        shardQueueCounts(ops.queues),
      ]);
      const finished = totals.orders_completed + totals.orders_failed + totals.orders_cancelled;
      return {
        generated_at: new Date(at).toISOString(),
        orders: {
          placed: totals.orders_placed,
          completed: totals.orders_completed,
          failed: totals.orders_failed,
          cancelled: totals.orders_cancelled,
          in_flight: Math.max(0, totals.orders_placed - finished),
        },
        steps: { completed: totals.steps_completed, failed: totals.steps_failed },
        last_minute: rates(recent, ops.activity.bucketMs, at),
        backlog: backlogSummary(shards),
        nodes: nodeSummary(nodes),
      };
    },

    /** Per-bucket rates of the last `minutes`, as columns for a chart (time in unix seconds). */
    async history(minutes: number) {
      const at = now();
      const bucketMs = ops.activity.bucketMs;
      const buckets = await ops.activity.history(minutes * 60_000);
      const perSecond = (b: ActivityBucket, n: number) =>
        round(n / (Math.max(1000, Math.min(bucketMs, at - b.start)) / 1000));
      return {
        bucket_seconds: bucketMs / 1000,
        time: buckets.map((b) => b.start / 1000),
        orders_placed_per_second: buckets.map((b) => perSecond(b, b.orders_placed)),
        orders_completed_per_second: buckets.map((b) => perSecond(b, b.orders_completed)),
        orders_failed_per_second: buckets.map((b) => perSecond(b, b.orders_failed)),
        orders_cancelled_per_second: buckets.map((b) => perSecond(b, b.orders_cancelled)),
        steps_per_second: buckets.map((b) => perSecond(b, b.steps_completed + b.steps_failed)),
        failure_rate: buckets.map((b) => ratio(b.orders_failed, b.orders_completed + b.orders_failed)),
      };
    },
  };
}

export type StatsReader = ReturnType<typeof createStatsReader>;
