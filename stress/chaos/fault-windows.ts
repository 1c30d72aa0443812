// What the checker needs to know of the faults played: kills, windows of possible write loss, partitions.
import type { FaultRecord } from './nemesis.js';
import type { PartitionWindow } from './partition-coverage.js';
import type { Kill, LossWindow } from './stats-rule.js';

/** Each played fault's record is turned into what the checker's rules take (ms since the run began). */
export function faultWindows(records: FaultRecord[]): {
  kills: Kill[];
  lossWindows: LossWindow[];
  partitions: PartitionWindow[];
} {
  const played = records.filter((f) => f.started_at !== null) as Array<FaultRecord & { started_at: number }>;
  // A partition lasts until its heal (its planned hold if the heal never came).
  const end = (f: FaultRecord & { started_at: number }) => f.healed_at ?? f.started_at + f.holdMs;
  return {
    kills: played.flatMap((f) =>
      (f.kind === 'kill-api' || f.kind === 'kill-worker') && f.target
        ? [{ target: f.target, at: f.started_at }]
        : [],
    ),
    // From a second before the fault (what the replica had not received yet) to the end of the lag a
    // lagging failover holds, or to the heal of a partition (the isolated master takes writes alone
    // until it sees itself in the minority; the API's count flushes to it are lost too).
    lossWindows: played.flatMap((f) =>
      f.slots
        ? [
            {
              from: f.started_at - 1000,
              to: f.kind === 'partition-master' ? end(f) : f.started_at + f.intensity,
              slots: f.slots,
            },
          ]
        : [],
    ),
    partitions: played.flatMap((f) =>
      f.kind === 'partition-master' && f.target && f.slots
        ? [{ target: f.target, from: f.started_at, to: end(f), slots: f.slots }]
        : [],
    ),
  };
}
