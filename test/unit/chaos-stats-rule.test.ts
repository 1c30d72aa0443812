// The chaos checker's /stats rule: what kills and failovers may explain, and what they may not.
import { describe, expect, it } from 'vitest';
import type { PlacementRecord } from '../../stress/chaos/journal.js';
import type { OrderJson } from '../../stress/chaos/order-json.js';
import { type LossWindow, statsFindings } from '../../stress/chaos/stats-rule.js';

const SLOT = 100;
const record = (id: string): OrderJson =>
  ({
    order_id: id,
    user_id: 'u1',
    status: 'completed',
    completed_at: null,
    steps: [],
    rollback: [],
  }) as unknown as OrderJson;
const records = [record('o1'), record('o2')];
const slots = {
  slotOf: new Map([
    ['o1', SLOT],
    ['o2', SLOT],
  ]),
  statsSlot: 9999,
};
const window: LossWindow = { from: 10_000, to: 15_000, slots: [[0, 200]] };
/** A request of u1 answered 503 at 12 s: it may have stored an order the failover dropped. */
const unacknowledged: PlacementRecord = {
  id: 3,
  user: 'u1',
  key: 'k3',
  body: '{}',
  requests: [{ sent_at: 11_000, answered_at: 12_000, key: 'k3', status: 503 }],
  outcome: 'gave-up',
} as PlacementRecord;
const counts = (placed: number) => ({ placed, completed: 0, failed: 0 });
const judge = (placed: number, lossWindows: LossWindow[], placements: PlacementRecord[]) =>
  statsFindings(counts(placed), records, { kills: [], lossWindows, placements, runStart: 0 }, slots);

describe('the /stats rule for orders counted when stored', () => {
  it('lets placed exceed the records by the unacknowledged requests in a loss window of their shard', () => {
    const { anomalies, notes } = judge(3, [window], [unacknowledged]);
    expect(anomalies.filter((a) => a.detail.includes('placed'))).toEqual([]);
    expect(notes.map((n) => n.kind)).toContain('stats-drift');
  });

  it('does not when no loss window covers the shard, or the request was acknowledged', () => {
    expect(judge(3, [], [unacknowledged]).anomalies.map((a) => a.kind)).toContain('stats');
    const elsewhere: LossWindow = { ...window, slots: [[5000, 6000]] };
    expect(judge(3, [elsewhere], [unacknowledged]).anomalies.map((a) => a.kind)).toContain('stats');
    const acked = { ...unacknowledged, requests: [{ ...unacknowledged.requests[0]!, status: 202 }] };
    expect(judge(3, [window], [acked as PlacementRecord]).anomalies.map((a) => a.kind)).toContain('stats');
  });

  it("allows one lost order per loss window a placement's unacknowledged requests met, not one per placement", () => {
    // A 503 in a first failover, its key lost with it; the retry stores anew and meets a second one.
    const later: LossWindow = { from: 40_000, to: 45_000, slots: [[0, 200]] };
    const twice = {
      ...unacknowledged,
      requests: [
        { sent_at: 11_000, answered_at: 12_000, key: 'k3', status: 503 },
        { sent_at: 41_000, answered_at: 42_000, key: 'k3', status: 503 },
      ],
    } as PlacementRecord;
    expect(judge(4, [window, later], [twice]).anomalies.filter((a) => a.detail.includes('placed'))).toEqual(
      [],
    );
    // Within one window its retries find the key it bound there: one order at most.
    const sameWindow = {
      ...twice,
      requests: [twice.requests[0]!, { ...twice.requests[0]!, sent_at: 13_000, answered_at: 14_000 }],
    } as PlacementRecord;
    expect(judge(4, [window, later], [sameWindow]).anomalies.map((a) => a.kind)).toContain('stats');
  });
});
