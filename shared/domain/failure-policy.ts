// Decides whether a step's simulated business logic fails: seeded for reproducible runs and tests.
import { fnv1a } from '../sharding.js';
import type { StepName } from './order.js';

export interface FailurePolicyOptions {
  rate: number;
  /** With a seed the draw is a pure function of (seed, order id, step); without, Math.random. */
  seed?: string;
}

/** Returns the failure reason of a step of an order, or null when it succeeds. Reads the order's id only. */
export type FailurePolicy = (order: { readonly order_id: string }, step: StepName) => string | null;

/** A uniform number in [0, 1) from a 32-bit seed (one round of mulberry32). */
export function unitFromSeed(seed: number): number {
  let t = (seed + 0x6d2b79f5) >>> 0;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

/** The failure draw of the simulated steps (workers/steps/simulated.ts). */
export function createFailurePolicy({ rate, seed }: FailurePolicyOptions): FailurePolicy {
  const draw =
    seed === undefined
      ? () => Math.random()
      : (orderId: string, step: StepName) => unitFromSeed(fnv1a(`${seed}|${orderId}|${step}`));
  return (order, step) =>
    draw(order.order_id, step) < rate ? `${step} failed (simulated, rate ${rate})` : null;
}
