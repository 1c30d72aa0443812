// The /stats rule: the order counts match the namespace's records, short only by what a kill lost.
import type { Anomaly, Note } from './anomaly.js';
import type { StatsCounts } from './api-reads.js';
import type { PlacementRecord } from './journal.js';
import { COMMITTED, type OrderJson } from './order-json.js';

/** A SIGKILL of the API (`target` 'api') or of a worker node (its NODE_ID), in ms since the run began. */
export interface Kill {
  target: string;
  at: number;
}

/**
 * When a failed master's writes may not have reached the replica that took over (ms since the run
 * began): the last second before a kill, or the whole time its replication was held back.
 */
export interface LossWindow {
  from: number;
  to: number;
  /** The slots the failed master served. */
  slots: Array<[number, number]>;
}

/** After a loss window, how long a lost step write takes to run again and finish: failover, lock expiry, steps. */
const RERUN_MS = 30_000;

// The API writes each placement count within ~200 ms (flushSoon); a worker node with its 1 s
// heartbeat. A kill loses at most what was counted this long before it (loaded machine: generous).
const API_FLUSH_MS = 1000;
const NODE_FLUSH_MS = 3000;

/** The node whose write ended the order: the one with the last committed execution. */
function finisher(o: OrderJson): string | null {
  const ends = [
    ...o.steps.flatMap((s) =>
      s.attempts.filter((a) => COMMITTED.has(a.outcome)).map((a) => ({ node: a.node_id, end: a.ended_at })),
    ),
    ...o.rollback.map((r) => ({ node: r.node_id, end: r.completed_at })),
  ].filter((e) => e.end !== null);
  ends.sort((a, b) => Date.parse(a.end!) - Date.parse(b.end!));
  return ends.at(-1)?.node ?? null;
}

/**
 * How many finishes a failover could have counted twice: worker nodes write records without WAIT,
 * so the final write of an order that finished in a loss window can vanish with its master; the
 * step runs again on the promoted replica and the order is counted again (README, Durability:
 * Redis Cluster may promote a replica that had not received a write).
 */
function surplusAllowance(
  windows: LossWindow[],
  records: OrderJson[],
  slotOf: Map<string, number>,
  runStart: number,
  placements: PlacementRecord[],
): StatsCounts {
  const allowance: StatsCounts = { placed: 0, completed: 0, failed: 0 };
  // An order is counted placed once the primary stored it, whatever the answer (OPERATIONS.md). A
  // request not acknowledged (503, or cut off) while its shard's master was in a loss window may
  // have stored an order that the failover then dropped: counted, and no record left. Within one
  // window the placement's retries find the key it bound there (one order at most); the key is lost
  // with that order, so a retry meeting a later window may store, and lose, another: one per window.
  const userSlot = new Map(records.map((o) => [o.user_id, slotOf.get(o.order_id) ?? -1]));
  for (const p of placements) {
    const slot = userSlot.get(p.user) ?? -1;
    const met = new Set<LossWindow>();
    for (const r of p.requests) {
      if (!(r.status === 503 || (r.status === null && r.error !== 'ECONNREFUSED'))) continue;
      for (const w of windows) {
        const inSlot = w.slots.some(([a, b]) => a <= slot && slot <= b);
        if (inSlot && r.sent_at <= w.to && r.answered_at >= w.from) met.add(w);
      }
    }
    allowance.placed += met.size;
  }
  for (const o of records) {
    const end = o.completed_at === null ? Number.NaN : Date.parse(o.completed_at) - runStart;
    const slot = slotOf.get(o.order_id) ?? -1;
    // The re-run finishes after the failover, so the order's final completion lies after the window.
    const hit = (w: LossWindow) =>
      end >= w.from && end <= w.to + RERUN_MS && w.slots.some(([a, b]) => a <= slot && slot <= b);
    if (!windows.some(hit)) continue;
    if (o.status === 'completed') allowance.completed++;
    if (o.status === 'failed') allowance.failed++;
  }
  return allowance;
}

/**
 * How many counts a failover could have lost: when the master holding the counters failed, what was
 * flushed to it in the loss window (a node flushes every heartbeat) may not have reached its replica.
 */
function failoverLoss(
  windows: LossWindow[],
  statsSlot: number,
  placements: PlacementRecord[],
  records: OrderJson[],
  runStart: number,
): StatsCounts {
  const allowance: StatsCounts = { placed: 0, completed: 0, failed: 0 };
  const hits = windows.filter((w) => w.slots.some(([a, b]) => a <= statsSlot && statsSlot <= b));
  const inWindow = (t: number) => hits.some((w) => t >= w.from - NODE_FLUSH_MS && t <= w.to);
  // Counted when stored, whatever the answer: any request that reached the API may have counted.
  allowance.placed = placements
    .flatMap((p) => p.requests)
    .filter((r) => r.error !== 'ECONNREFUSED' && inWindow(r.answered_at)).length;
  for (const o of records) {
    const end = o.completed_at === null ? Number.NaN : Date.parse(o.completed_at) - runStart;
    if (!inWindow(end)) continue;
    if (o.status === 'completed') allowance.completed++;
    if (o.status === 'failed') allowance.failed++;
  }
  return allowance;
}

/** How many of each count the kills could have lost (counted in memory, not yet flushed). */
function lossAllowance(
  kills: Kill[],
  placements: PlacementRecord[],
  records: OrderJson[],
  runStart: number,
): StatsCounts {
  const allowance: StatsCounts = { placed: 0, completed: 0, failed: 0 };
  for (const kill of kills) {
    if (kill.target === 'api') {
      // Orders are counted when stored, whatever the answer: requests answered in the second before
      // the kill, and requests the kill cut off (reset, not refused: those reached the API).
      allowance.placed += placements
        .flatMap((p) => p.requests)
        .filter((r) =>
          r.status !== null
            ? r.answered_at >= kill.at - API_FLUSH_MS && r.answered_at <= kill.at + 100
            : r.error !== 'ECONNREFUSED' &&
              r.answered_at >= kill.at &&
              r.answered_at <= kill.at + API_FLUSH_MS,
        ).length;
      continue;
    }
    for (const o of records) {
      const end = o.completed_at === null ? Number.NaN : Date.parse(o.completed_at) - runStart;
      if (!(end >= kill.at - NODE_FLUSH_MS && end <= kill.at) || finisher(o) !== kill.target) continue;
      if (o.status === 'completed') allowance.completed++;
      if (o.status === 'failed') allowance.failed++;
    }
  }
  return allowance;
}

/**
 * /stats may not count fewer orders than the records hold, except by what a SIGKILLed process had
 * counted and not yet written (OPERATIONS.md documents that loss) or a failover of the counters'
 * master lost, nor more, except by the finishes a failover may have counted twice and the orders a
 * failover dropped after they were counted (stored on the primary, never acknowledged). Anything
 * beyond is an anomaly: an order stored but never counted as placed, or a count written twice (a
 * flush whose reply was lost).
 */
export function statsFindings(
  stats: StatsCounts,
  records: OrderJson[],
  input: { kills: Kill[]; lossWindows: LossWindow[]; placements: PlacementRecord[]; runStart: number },
  slots: { slotOf: Map<string, number>; statsSlot: number },
): { anomalies: Anomaly[]; notes: Note[] } {
  const anomalies: Anomaly[] = [];
  const notes: Note[] = [];
  const killed = lossAllowance(input.kills, input.placements, records, input.runStart);
  const failedOver = failoverLoss(
    input.lossWindows,
    slots.statsSlot,
    input.placements,
    records,
    input.runStart,
  );
  const allowance: StatsCounts = {
    placed: killed.placed + failedOver.placed,
    completed: killed.completed + failedOver.completed,
    failed: killed.failed + failedOver.failed,
  };
  const surplus = surplusAllowance(
    input.lossWindows,
    records,
    slots.slotOf,
    input.runStart,
    input.placements,
  );
  const actual: StatsCounts = {
    placed: records.length,
    completed: records.filter((o) => o.status === 'completed').length,
    failed: records.filter((o) => o.status === 'failed').length,
  };
  for (const name of ['placed', 'completed', 'failed'] as const) {
    const shown = stats[name];
    if (shown === actual[name]) continue;
    const detail = `/stats orders.${name} = ${shown}, records of the namespace: ${actual[name]}`;
    const short = actual[name] - shown;
    const explained = short > 0 ? short <= allowance[name] : -short <= surplus[name];
    if (explained)
      notes.push({
        kind: 'stats-drift',
        detail:
          short > 0
            ? `${detail}; kills and failovers could have lost up to ${allowance[name]} counts`
            : `${detail}; failovers could have counted up to ${surplus[name]} ${name === 'placed' ? 'orders they then dropped' : 'finishes twice'}`,
      });
    else {
      const firstAcked = new Set(
        input.placements.flatMap((p) =>
          p.requests.filter((r) => r.status === 202 && !r.replayed).map((r) => r.order_id),
        ),
      );
      // For placed: how many records no first (non-replayed) 202 ever announced, a likely cause.
      const unannounced = records.filter((o) => !firstAcked.has(o.order_id)).length;
      const why =
        short > 0
          ? `${short} short, kills and failovers explain at most ${allowance[name]}` +
            (name === 'placed' ? `; ${unannounced} records never got a first (non-replayed) 202` : '')
          : `${-short} too many, failovers explain at most ${surplus[name]}`;
      anomalies.push({ kind: 'stats', detail: `${detail} (${why})`, placements: [] });
    }
  }
  return { anomalies, notes };
}
