// The simulated business failure of a step: seeded draws and the configured rate.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createFailurePolicy, unitFromSeed } from '../../shared/domain/failure-policy.js';
import { newOrder, type OrderRecord, STEPS } from '../../shared/domain/order.js';

const T0 = new Date(Date.UTC(2025, 0, 15));
const orderOf = (orderId: string, userId = 'user-1'): OrderRecord =>
  newOrder(orderId, 0, { user_id: userId }, T0);
/** `count` distinct orders with ids shaped like real ones. */
const orders = (count: number) =>
  Array.from({ length: count }, (_, i) => orderOf(`${i % 12}-01JHMXBCG0${String(i).padStart(16, '0')}`));

afterEach(() => {
  vi.restoreAllMocks();
});

describe('when the policy is seeded', () => {
  it('decides the same way for the same seed, order and step, in any policy instance', () => {
    const first = createFailurePolicy({ rate: 0.5, seed: 'seed-1' });
    const second = createFailurePolicy({ rate: 0.5, seed: 'seed-1' });
    for (const order of orders(200)) {
      for (const step of STEPS) {
        expect(second(order, step)).toBe(first(order, step));
        expect(first(order, step)).toBe(first(order, step));
      }
    }
  });

  it('depends on the order id, not on the rest of the record', () => {
    const policy = createFailurePolicy({ rate: 0.5, seed: 'seed-1' });
    for (const [i, order] of orders(100).entries()) {
      const other = { ...orderOf(order.order_id, `someone-else-${i}`), items: [{ sku: 'X', qty: i + 1 }] };
      for (const step of STEPS) expect(policy(other, step)).toBe(policy(order, step));
    }
  });

  it('never calls Math.random', () => {
    const random = vi.spyOn(Math, 'random');
    const policy = createFailurePolicy({ rate: 0.5, seed: 'seed-1' });
    for (const order of orders(50)) policy(order, 'processing');
    expect(random).not.toHaveBeenCalled();
  });

  it('decides differently under a different seed', () => {
    const a = createFailurePolicy({ rate: 0.5, seed: 'seed-a' });
    const b = createFailurePolicy({ rate: 0.5, seed: 'seed-b' });
    let differ = 0;
    let total = 0;
    for (const order of orders(500)) {
      for (const step of STEPS) {
        total++;
        if ((a(order, step) === null) !== (b(order, step) === null)) differ++;
      }
    }
    // Two independent fair coins disagree half the time.
    expect(differ / total).toBeGreaterThan(0.4);
    expect(differ / total).toBeLessThan(0.6);
  });

  it('fails about 5% of 20,000 draws at rate 0.05', () => {
    const policy = createFailurePolicy({ rate: 0.05, seed: 'stress-7' });
    let failures = 0;
    for (const order of orders(5000)) for (const step of STEPS) if (policy(order, step) !== null) failures++;
    expect(failures / 20_000).toBeGreaterThanOrEqual(0.04);
    expect(failures / 20_000).toBeLessThanOrEqual(0.06);
  });

  it('gives the step and the rate as the reason', () => {
    const policy = createFailurePolicy({ rate: 1, seed: 's' });
    expect(policy(orderOf('0-X'), 'pre-processing')).toBe('pre-processing failed (simulated, rate 1)');
  });
});

describe.each([
  { label: 'seeded', seed: 'seed-1' },
  { label: 'unseeded', seed: undefined },
])('when the policy is $label', ({ seed }) => {
  it('never fails at rate 0', () => {
    const policy = createFailurePolicy({ rate: 0, seed });
    for (const order of orders(500)) for (const step of STEPS) expect(policy(order, step)).toBeNull();
  });

  it('always fails at rate 1', () => {
    const policy = createFailurePolicy({ rate: 1, seed });
    for (const order of orders(500)) for (const step of STEPS) expect(policy(order, step)).not.toBeNull();
  });
});

describe('when the policy is unseeded', () => {
  it('fails exactly when Math.random draws below the rate', () => {
    const policy = createFailurePolicy({ rate: 0.05 });
    const random = vi.spyOn(Math, 'random');
    random.mockReturnValueOnce(0.0499);
    expect(policy(orderOf('0-A'), 'processing')).toBe('processing failed (simulated, rate 0.05)');
    random.mockReturnValueOnce(0.05);
    expect(policy(orderOf('0-A'), 'processing')).toBeNull();
    expect(random).toHaveBeenCalledTimes(2);
  });
});

describe('unitFromSeed', () => {
  it('stays in [0, 1) at the edges of the 32-bit range and beyond', () => {
    for (const seed of [0, 1, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, -1, 0x92d48611]) {
      const unit = unitFromSeed(seed);
      expect(unit).toBeGreaterThanOrEqual(0);
      expect(unit).toBeLessThan(1);
    }
  });

  it('stays in [0, 1) and averages about one half over many seeds', () => {
    const units = Array.from({ length: 50_000 }, (_, i) => unitFromSeed(Math.imul(i, 0x9e3779b1)));
    expect(Math.min(...units)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...units)).toBeLessThan(1);
    expect(Math.abs(units.reduce((a, b) => a + b, 0) / units.length - 0.5)).toBeLessThan(0.01);
  });

  it('is a function of its seed', () => {
    expect(unitFromSeed(42)).toBe(unitFromSeed(42));
    expect(unitFromSeed(42)).not.toBe(unitFromSeed(43));
  });
});
