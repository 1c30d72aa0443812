// The chaos run's fault schedule: drawn from the seed alone, partitions only with --partitions.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createPrng } from '../../stress/chaos/prng.js';
import { type FaultKind, PARTITION_FAULTS, planFaults } from '../../stress/chaos/schedule.js';

const plan = (seed: string, durationMs: number, options?: Parameters<typeof planFaults>[3], workers = 3) =>
  planFaults(createPrng(seed).fork('faults'), durationMs, workers, options);
const digest = (value: unknown) => createHash('sha256').update(JSON.stringify(value)).digest('hex');

describe('planFaults without --partitions', () => {
  // Digests of the schedules the code drew before partitions existed (commit 44d0566): seeds are on
  // record in notes and ADRs, and each must still replay the faults it found an anomaly under.
  it.each([
    ['p1', 120_000, undefined, 3, 35, 'f3d95b14ffd8fcdc9eb64b5d0b8ba30cb084319067a076a41d2d2adbbe8f5c66'],
    ['ci-7', 60_000, undefined, 3, 16, '0a2ac4163186877c3b0826ab6d205a80dd741fe23eadbaf8213a4f07b67c8f48'],
    [
      'hunt-1',
      150_000,
      ['lagging-failover', 'pause-replica', 'kill-api'] as FaultKind[],
      2,
      63,
      'd44c6287d28fc7aff46869ffd5d113e9c10a47e6e9b99db1d26168e9771b4fed',
    ],
  ] as const)(
    'draws seed %s exactly as before partitions existed',
    (seed, ms, only, workers, length, sha) => {
      const faults = plan(seed, ms, { only }, workers);
      expect(faults).toHaveLength(length);
      expect(digest(faults)).toBe(sha);
    },
  );

  it('never plans a partition, even when --faults names only partition-master', () => {
    for (const seed of ['a', 'b', 'c', 'd']) {
      expect(plan(seed, 300_000).some((f) => f.kind === 'partition-master')).toBe(false);
      expect(plan(seed, 300_000, { only: ['partition-master'] })).toEqual([]);
    }
  });
});

describe('planFaults with --partitions', () => {
  it('plans partition-master in the store lane, held past the failover, on one of the three masters', () => {
    for (const seed of ['p1', 'p2', 'p3', 'x']) {
      const partitions = plan(seed, 300_000, { partitions: true }).filter(
        (f) => f.kind === 'partition-master',
      );
      expect(partitions.length, seed).toBeGreaterThan(0);
      for (const f of partitions) {
        expect(f.lane).toBe('store');
        expect(f.holdMs).toBeGreaterThanOrEqual(6000);
        expect(f.holdMs).toBeLessThanOrEqual(10_000);
        expect([0, 1, 2]).toContain(f.target);
      }
    }
  });

  it('replays the same schedule for the same seed, and keeps store faults one at a time', () => {
    const first = plan('p1', 120_000, { partitions: true });
    expect(plan('p1', 120_000, { partitions: true })).toEqual(first);
    const store = first.filter((f) => f.lane === 'store');
    for (let i = 1; i < store.length; i++)
      expect(store[i]!.at).toBeGreaterThanOrEqual(store[i - 1]!.at + store[i - 1]!.holdMs);
    expect(first.at(-1)!.at + first.at(-1)!.holdMs).toBeLessThanOrEqual(120_000);
  });

  it('narrows to partitions alone with --faults partition-master', () => {
    const only = plan('hunt', 120_000, { only: [...PARTITION_FAULTS], partitions: true });
    expect(only.length).toBeGreaterThan(3);
    expect(new Set(only.map((f) => f.kind))).toEqual(new Set(['partition-master']));
  });
});
