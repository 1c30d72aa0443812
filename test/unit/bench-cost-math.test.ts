// The bench's cost arithmetic: commands per step, ratios, and the fair baseline's split of slots.
import { describe, expect, it } from 'vitest';
import { splitConcurrency } from '../../stress/baselines/concurrency-split.js';
import { commandsPer, ratioOf } from '../../stress/harness/cost-math.js';

describe('commandsPer', () => {
  const commands = [
    { command: 'evalsha', calls: 1200, usec: 6000 },
    { command: 'eval', calls: 100, usec: 900 },
    { command: 'zcard', calls: 300, usec: 300 },
  ];
  it('divides every call, the scripts among them, and the time by the units done', () => {
    expect(commandsPer(commands, 400)).toEqual({ calls: 4, evalsha: 3.25, usec: 18 });
  });
  it('has nothing to say when no unit was done', () => {
    expect(commandsPer(commands, 0)).toBeNull();
  });
});

describe('ratioOf', () => {
  it('divides, and refuses a missing or non-positive divisor', () => {
    expect(ratioOf(3, 4)).toBe(0.75);
    expect(ratioOf(3, 0)).toBeNull();
    expect(ratioOf(null, 4)).toBeNull();
  });
});

describe('splitConcurrency', () => {
  it('shares 50 slots over 12 Workers as two of 5 and ten of 4', () => {
    const split = splitConcurrency(50, 12);
    expect(split.reduce((a, b) => a + b, 0)).toBe(50);
    expect(split.filter((c) => c === 5)).toHaveLength(2);
    expect(split.filter((c) => c === 4)).toHaveLength(10);
  });
  it('gives every Worker at least one slot, since BullMQ refuses zero', () => {
    expect(splitConcurrency(5, 12)).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
  });
});
