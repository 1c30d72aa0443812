// The windows the chaos checker takes from the faults played: a partition may lose writes until its heal.
import { describe, expect, it } from 'vitest';
import { faultWindows } from '../../stress/chaos/fault-windows.js';
import type { FaultRecord } from '../../stress/chaos/nemesis.js';

const fault = (over: Partial<FaultRecord>): FaultRecord => ({
  kind: 'kill-worker',
  lane: 'process',
  planned_at: 0,
  started_at: 10_000,
  healed_at: 12_000,
  target: 'worker-1',
  holdMs: 2000,
  intensity: 0,
  ...over,
});
const slots: Array<[number, number]> = [[0, 5460]];

describe('faultWindows', () => {
  it('runs a partition loss window from a second before the cut to its heal', () => {
    const { lossWindows, partitions } = faultWindows([
      fault({
        kind: 'partition-master',
        lane: 'store',
        target: 'master :7000',
        holdMs: 8000,
        healed_at: 18_500,
        slots,
      }),
    ]);
    expect(lossWindows).toEqual([{ from: 9000, to: 18_500, slots }]);
    expect(partitions).toEqual([{ target: 'master :7000', from: 10_000, to: 18_500, slots }]);
  });

  it('keeps the windows of the other faults as they were: a kill to its start, a lag to its end', () => {
    const { kills, lossWindows, partitions } = faultWindows([
      fault({}),
      fault({ kind: 'kill-master', lane: 'store', target: 'master :7001', slots }),
      fault({ kind: 'lagging-failover', lane: 'store', target: 'master :7002', intensity: 5000, slots }),
      fault({ kind: 'kill-api', target: 'api', started_at: null, healed_at: null }),
    ]);
    expect(kills).toEqual([{ target: 'worker-1', at: 10_000 }]);
    expect(lossWindows).toEqual([
      { from: 9000, to: 10_000, slots },
      { from: 9000, to: 15_000, slots },
    ]);
    expect(partitions).toEqual([]);
  });
});
