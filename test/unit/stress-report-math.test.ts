// The stress report's arithmetic against values worked out by hand or published.
import { describe, expect, it } from 'vitest';
import type { Attempt, OrderRecord } from '../../shared/domain/order.js';
import { dispatchGaps, recoveryDelays, stepRuns, windowThroughput } from '../../stress/order-timings.js';
import {
  distribution,
  expectedOrderFailureRate,
  linearSlope,
  littleCapacity,
  quantile,
  ratio,
  wilsonInterval,
} from '../../stress/report-math.js';
import { nextPollAt } from '../../stress/tracker.js';

const oneTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

describe('quantile', () => {
  it('interpolates between the closest ranks', () => {
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantile(oneTo(100), 0.99)).toBeCloseTo(99.01, 10);
    expect(quantile(oneTo(100), 0.9)).toBeCloseTo(90.1, 10);
  });

  it('answers the extremes at q = 0 and q = 1 and the only value of a single sample', () => {
    expect(quantile([3, 7, 9], 0)).toBe(3);
    expect(quantile([3, 7, 9], 1)).toBe(9);
    expect(quantile([5], 0.9)).toBe(5);
  });

  it('is NaN for no values', () => {
    expect(quantile([], 0.5)).toBeNaN();
  });
});

describe('distribution', () => {
  it('sorts its input and reports count, min, mean, percentiles and max', () => {
    const d = distribution([30, 10, 20]);
    expect(d).toMatchObject({ count: 3, min: 10, mean: 20, p50: 20, max: 30 });
    expect(d.p90).toBeCloseTo(28, 10);
  });

  it('is empty, not an error, for no values', () => {
    expect(distribution([]).count).toBe(0);
    expect(distribution([]).p99).toBeNaN();
  });
});

describe('wilsonInterval', () => {
  it('matches the published 95 % interval of 20 failures in 100', () => {
    const { low, high } = wilsonInterval(20, 100);
    expect(low).toBeCloseTo(0.1334, 4);
    expect(high).toBeCloseTo(0.2888, 4);
  });

  it('stays inside [0, 1] at no failures and at all failures', () => {
    expect(wilsonInterval(0, 10).low).toBe(0);
    expect(wilsonInterval(0, 10).high).toBeCloseTo(3.8416 / 13.8416, 6);
    expect(wilsonInterval(10, 10).high).toBe(1);
    expect(wilsonInterval(10, 10).low).toBeCloseTo(10 / 13.8416, 6);
  });

  it('narrows as the sample grows', () => {
    const small = wilsonInterval(5, 50);
    const large = wilsonInterval(500, 5000);
    expect(large.high - large.low).toBeLessThan(small.high - small.low);
  });

  it('knows nothing from no trials', () => {
    expect(wilsonInterval(0, 0)).toEqual({ low: 0, high: 1 });
  });
});

describe('expectedOrderFailureRate', () => {
  it('is 1 − (1 − p)^4 for four steps', () => {
    expect(expectedOrderFailureRate(0.05)).toBeCloseTo(0.18549375, 10);
    expect(expectedOrderFailureRate(0)).toBe(0);
    expect(expectedOrderFailureRate(1)).toBe(1);
    expect(expectedOrderFailureRate(0.5, 2)).toBe(0.75);
  });
});

describe("littleCapacity (Little's law)", () => {
  it('is nodes × concurrency / step time, in steps per second', () => {
    expect(littleCapacity(1, 50, 5000)).toBe(10);
    expect(littleCapacity(16, 50, 5000)).toBe(160);
    expect(littleCapacity(2, 50, 200)).toBe(500);
  });

  it('has no bound when steps take no time', () => {
    expect(littleCapacity(2, 50, 0)).toBeNull();
  });
});

describe('ratio and linearSlope', () => {
  it('divides only by a positive known number', () => {
    expect(ratio(97, 100)).toBe(0.97);
    expect(ratio(1, 0)).toBeNull();
    expect(ratio(null, 10)).toBeNull();
  });

  it('fits the slope of a straight line', () => {
    expect(linearSlope([0, 1, 2], [1, 3, 5])).toBe(2);
    expect(linearSlope([1], [1])).toBeNull();
  });
});

const T = Date.parse('2026-01-01T00:00:00.000Z');
const iso = (ms: number) => new Date(T + ms).toISOString();
const attempt = (node: string, start: number, end: number | null, outcome: Attempt['outcome']): Attempt => ({
  node_id: node,
  started_at: iso(start),
  ended_at: end === null ? null : iso(end),
  outcome,
});

/** An order whose four steps ran back to back on node `n1`, each 100 ms after a 5 ms gap. */
function chainedOrder(): OrderRecord {
  const names = ['scheduling', 'pre-processing', 'processing', 'post-processing'] as const;
  return {
    order_id: '0-X',
    user_id: 'u',
    shard: 0,
    status: 'completed',
    current_step: 'completed',
    created_at: iso(0),
    started_at: iso(10),
    completed_at: iso(10 + 3 * 105 + 100),
    items: [],
    customer_name: null,
    region: null,
    steps: names.map((name, i) => ({
      name,
      status: 'completed',
      started_at: iso(10 + i * 105),
      completed_at: iso(110 + i * 105),
      node_id: 'n1',
      attempts: [attempt('n1', 10 + i * 105, 110 + i * 105, 'completed')],
    })),
    failure: null,
    rollback: [],
  } as OrderRecord;
}

describe('order timings', () => {
  it('measures the gap between a completion and the next step start', () => {
    expect(dispatchGaps([chainedOrder()])).toEqual([5, 5, 5]);
  });

  it('counts steps in a window by the fraction of each that lies inside it', () => {
    const runs = stepRuns([chainedOrder()]);
    // 0.5 s window from t = 60 ms: half of step 1, all of steps 2-4 → 3.5 steps in 0.5 s.
    expect(windowThroughput(runs, T + 60, T + 560)).toBeCloseTo(7, 10);
  });

  it("times recovery from the kill to the next attempt's start", () => {
    const order = chainedOrder();
    order.steps[1]!.attempts = [
      attempt('dead', 100, null, 'abandoned'),
      attempt('n2', 9_100, 9_200, 'completed'),
    ];
    order.steps[2]!.attempts = [attempt('dead', 100, null, 'running')];
    expect(recoveryDelays([order], 'dead', T + 1_000)).toEqual({ resumedMs: [8_100], pending: 1 });
  });
});

describe('nextPollAt', () => {
  it('polls a running order when its remaining steps should be done', () => {
    const order = chainedOrder();
    order.status = 'in_progress';
    order.current_step = 'processing';
    const next = nextPollAt(order, T + 220, 100, 0);
    // processing started at 220; it and post-processing take 2 × 100 ms, plus a 20 ms margin.
    expect(next).toBe(T + 220 + 200 + 20);
  });

  it('backs off exponentially, up to a cap, while an order makes no progress', () => {
    expect(nextPollAt(null, 0, 1000, 0)).toBe(250);
    expect(nextPollAt(null, 0, 1000, 2)).toBe(1000);
    expect(nextPollAt(null, 0, 1000, 10)).toBe(4000);
  });
});
