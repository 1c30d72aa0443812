// What clients did on the isolated side of each partition: the evidence that a partition was exercised.
import type { PlacementRecord } from './journal.js';
import type { OrderJson } from './order-json.js';

/** A partition of the run: the master cut off, when (ms since the run began), and the slots it served. */
export interface PartitionWindow {
  target: string;
  from: number;
  to: number;
  slots: Array<[number, number]>;
}

/** The placements sent to the isolated master's shards while it was cut off, by answer. */
export interface PartitionCoverage extends PartitionWindow {
  /** Answers (status, or the error of no answer) of the requests sent during the cut. */
  answers: Record<string, number>;
  /** Order ids acknowledged (202) for those requests: each must still exist (the `lost` rule). */
  acked: string[];
}

/**
 * For each partition, the requests of users whose shard the isolated master served, sent while it
 * was cut off. A user's shard is known by the slot of its records (every order of a user shares one
 * hash tag); users with no record are left out. Every 202 among them must have survived the heal:
 * the checker's `lost` rule holds them to that like any other acknowledged order.
 */
export function partitionCoverage(
  windows: PartitionWindow[],
  placements: PlacementRecord[],
  records: Iterable<OrderJson>,
  slotOf: Map<string, number>,
): PartitionCoverage[] {
  const userSlot = new Map<string, number>();
  for (const o of records) {
    const slot = slotOf.get(o.order_id);
    if (slot !== undefined) userSlot.set(o.user_id, slot);
  }
  return windows.map((w) => {
    const answers: Record<string, number> = {};
    const acked: string[] = [];
    for (const p of placements) {
      const slot = userSlot.get(p.user);
      if (slot === undefined || !w.slots.some(([a, b]) => a <= slot && slot <= b)) continue;
      for (const r of p.requests) {
        if (r.sent_at < w.from || r.sent_at > w.to) continue;
        const answer = String(r.status ?? r.error);
        answers[answer] = (answers[answer] ?? 0) + 1;
        if (r.status === 202 && r.order_id) acked.push(r.order_id);
      }
    }
    return { ...w, answers, acked };
  });
}
