// What a cancel request does to an order, decided from its record alone. Pure, like transitions.ts.
import type { CancelRequest, OrderRecord } from './order.js';

/**
 * - `replay`: a cancel was asked before; the answer is the same request, wherever the order is now.
 * - `at-once`: no step has started: the API ends the order `cancelled` itself and removes its chain.
 * - `request`: a step runs or the next one waits: the request is stored for a run to take in.
 * - `refuse`: too late (completed, failed) or a failure's rollback is under way: 409, nothing written.
 */
export type CancelPlan =
  | { kind: 'replay'; request: CancelRequest }
  | { kind: 'at-once' }
  | { kind: 'request' }
  | { kind: 'refuse'; reason: string };

/** How a cancel request meets the order; `stored` is a request already stored beside it. */
export function planCancel(order: OrderRecord, stored: CancelRequest | undefined): CancelPlan {
  const earlier = stored ?? order.cancellation;
  if (earlier) {
    const { requested_at, reason, requested_by } = earlier;
    return { kind: 'replay', request: { requested_at, reason, requested_by } };
  }
  if (order.status === 'completed' || order.status === 'failed' || order.status === 'cancelled') {
    return {
      kind: 'refuse',
      reason: `the order is ${order.status} (at ${order.completed_at}): too late to cancel`,
    };
  }
  if (order.status === 'rolling_back') {
    const step = order.failure?.step ?? 'a step';
    return {
      kind: 'refuse',
      reason: `the order is rolling back after ${step} failed: it will end failed, not cancelled`,
    };
  }
  const started = order.steps.some((step) => step.attempts.length > 0);
  return started ? { kind: 'request' } : { kind: 'at-once' };
}

/** What the cancel of an order came to, for the answer: `failed` when a failure overtook it. */
export function cancelOutcome(order: OrderRecord): 'cancelled' | 'cancelling' | 'failed' | 'completed' {
  if (order.status === 'cancelled') return 'cancelled';
  if (order.status === 'failed' || order.status === 'completed') return order.status;
  if (order.status === 'rolling_back' && order.failure) return 'failed';
  return 'cancelling';
}
