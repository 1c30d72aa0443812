// Cluster-wide activity counts in the store: running totals, time buckets for charts, recent failures.
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChainableCommander } from 'ioredis';
import type { StepName } from './domain/order.js';
import { registryKeys } from './keys.js';
import type { Store } from './store.js';

export const ACTIVITY_COUNTS = [
  'orders_placed',
  'orders_completed',
  'orders_failed',
  'orders_cancelled',
  'steps_completed',
  'steps_failed',
] as const;
export type ActivityCount = (typeof ACTIVITY_COUNTS)[number];
export type Counts = Record<ActivityCount, number>;

/** What the dashboard lists about a failed order; the record itself stays the record of truth. */
export interface FailedOrderNote {
  order_id: string;
  user_id: string;
  shard: number;
  step: StepName | null;
  reason: string | null;
  node_id: string;
  failed_at: string;
}

export interface ActivityBucket extends Counts {
  /** Start of the bucket, ms since the epoch. */
  start: number;
}

export interface ActivityOptions {
  /** Width of one chart bucket. */
  bucketMs?: number;
  /** How long buckets are kept. */
  keepMs?: number;
  /** How many failed orders are remembered. */
  keepFailures?: number;
  /** After a flush, how long flushSoon lets further events gather before the next write. */
  coalesceMs?: number;
  now?: () => number;
}

export const zeroCounts = (): Counts =>
  Object.fromEntries(ACTIVITY_COUNTS.map((name) => [name, 0])) as Counts;

/**
 * The activity of one namespace. Processes count in memory and `flush()` now and then (a worker
 * node on its heartbeat, the API every second), so the cost is one MULTI per flush, not a write per
 * event. Every key shares the `{registry}` hash tag, so a flush and a read are one round trip each.
 */
export function createActivity(store: Store, namespace: string, options: ActivityOptions = {}) {
  const {
    bucketMs = 10_000,
    keepMs = 15 * 60_000,
    keepFailures = 50,
    coalesceMs = 200,
    now = Date.now,
  } = options;
  const {
    activityTotals: totalsKey,
    activityFailures: failuresKey,
    activityBucket: bucketKey,
  } = registryKeys(namespace);
  const bucketOf = (time: number) => time - (time % bucketMs);

  let pending = new Map<number, Partial<Counts>>();
  let pendingFailures: FailedOrderNote[] = [];
  let flushing: Promise<void> | undefined;
  let flushAgain = false;

  function add(name: ActivityCount, n = 1, at = now()): void {
    const bucket = bucketOf(at);
    const counts = pending.get(bucket) ?? {};
    counts[name] = (counts[name] ?? 0) + n;
    pending.set(bucket, counts);
  }

  function queueCounts(multi: ChainableCommander, counts: Map<number, Partial<Counts>>): void {
    for (const [bucket, byName] of counts) {
      for (const [name, n] of Object.entries(byName)) {
        multi.hincrby(totalsKey, name, n);
        multi.hincrby(bucketKey(bucket), name, n);
      }
      multi.pexpire(bucketKey(bucket), keepMs + bucketMs);
    }
  }

  /**
   * Writes what was counted since the last flush, plus `extra` commands of the caller (same slot),
   * in one MULTI. On an error the counts are kept for the next flush and the error rethrown.
   */
  async function flush(extra?: (multi: ChainableCommander) => void): Promise<void> {
    if (pending.size === 0 && pendingFailures.length === 0 && !extra) return;
    const counts = pending;
    const failures = pendingFailures;
    pending = new Map();
    pendingFailures = [];
    const multi = store.multi();
    queueCounts(multi, counts);
    if (failures.length > 0) {
      multi.lpush(failuresKey, ...failures.map((note) => JSON.stringify(note)));
      multi.ltrim(failuresKey, 0, keepFailures - 1);
    }
    extra?.(multi);
    try {
      const results = await multi.exec();
      const error = results?.find(([err]) => err)?.[0];
      if (error) throw error;
    } catch (error) {
      for (const [bucket, byName] of counts) {
        for (const [name, n] of Object.entries(byName)) add(name as ActivityCount, n, bucket);
      }
      pendingFailures = [...failures, ...pendingFailures];
      throw error;
    }
  }

  const parseCounts = (hash: Record<string, string> | null | undefined): Counts => {
    const counts = zeroCounts();
    for (const name of ACTIVITY_COUNTS) counts[name] = Number(hash?.[name] ?? 0);
    return counts;
  };

  return {
    bucketMs,
    add,

    /** Remembers a failed order for the dashboard's list. */
    noteFailure(note: FailedOrderNote): void {
      pendingFailures.push(note);
    },

    flush,

    /**
     * Flushes now when idle (an event is in the store a round trip after it happened); events that
     * come while a flush is under way are written together `coalesceMs` after it. Flushing again the
     * moment a write returned kept one MULTI per round trip going under load (hundreds a second at
     * full placement load), for counts a dashboard reads every few seconds.
     */
    flushSoon(): Promise<void> {
      if (flushing) {
        flushAgain = true;
        return flushing;
      }
      flushing = (async () => {
        try {
          do {
            flushAgain = false;
            await flush();
            if (flushAgain) await sleep(coalesceMs);
          } while (flushAgain);
        } finally {
          flushing = undefined;
        }
      })();
      return flushing;
    },

    /** Totals since the namespace was first used. */
    async totals(): Promise<Counts> {
      return parseCounts(await store.hgetall(totalsKey));
    },

    /** The buckets of the last `spanMs`, oldest first, the current (partial) one last. */
    async history(spanMs: number): Promise<ActivityBucket[]> {
      const last = bucketOf(now());
      const starts: number[] = [];
      for (let start = last - Math.ceil(spanMs / bucketMs - 1) * bucketMs; start <= last; start += bucketMs) {
        starts.push(start);
      }
      const pipeline = store.pipeline();
      for (const start of starts) pipeline.hgetall(bucketKey(start));
      const results = (await pipeline.exec()) ?? [];
      return starts.map((start, i) => {
        const [error, hash] = results[i] ?? [null, null];
        if (error) throw error;
        return { start, ...parseCounts(hash as Record<string, string>) };
      });
    },

    /** The most recent failed orders, newest first. */
    async recentFailures(limit = keepFailures): Promise<FailedOrderNote[]> {
      const docs = await store.lrange(failuresKey, 0, limit - 1);
      return docs.map((doc) => JSON.parse(doc) as FailedOrderNote);
    },
  };
}

export type Activity = ReturnType<typeof createActivity>;
