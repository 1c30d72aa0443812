// Cancelling in the pure domain: the plan of a cancel request, the cancel transition, the events a
// record change makes, and the stress CLI's check of cancelled records. No store.
import { describe, expect, it } from 'vitest';
import { cancelOutcome, planCancel } from '../../shared/domain/cancel-plan.js';
import { type CancelRequest, newOrder, type OrderRecord, STEPS } from '../../shared/domain/order.js';
import { eventsBetween } from '../../shared/domain/order-events.js';
import {
  cancelOrder,
  completeCompensation,
  completeStep,
  failStep,
  finishRollback,
  planStep,
  startCompensation,
  startStep,
  TransitionError,
} from '../../shared/domain/transitions.js';
import { checkCancelled } from '../../stress/cancel-check.js';

const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 12, 0, s));
const request: CancelRequest = { requested_at: at(0).toISOString(), reason: 'no', requested_by: 'shop' };
const placed = () => newOrder('3-01JHMXBCG05HV25QB0YED8HWWM', 3, { user_id: 'u' }, at(0));

/** An order whose first `done` steps completed on node n1, and whose next one runs if `running`. */
function advanced(done: number, running = true): OrderRecord {
  let order = placed();
  for (const step of STEPS.slice(0, done)) {
    order = completeStep(startStep(order, step, 'n1', at(1)), step, 'n1', at(2));
  }
  const next = STEPS[done];
  return running && next ? startStep(order, next, 'n1', at(3)) : order;
}

/** Undoes every pending compensation and finishes the rollback, as the saga does. */
function rolledBack(order: OrderRecord): OrderRecord {
  for (const step of [...order.steps].reverse()) {
    if (step.status !== 'completed') continue;
    order = completeCompensation(startCompensation(order, step.name, 'n1', at(5)), step.name, at(6));
  }
  return finishRollback(order, at(7));
}

describe('planCancel', () => {
  it('cancels at once before any step started, and asks a run after', () => {
    expect(planCancel(placed(), undefined)).toEqual({ kind: 'at-once' });
    expect(planCancel(advanced(0), undefined)).toEqual({ kind: 'request' });
    expect(planCancel(advanced(2, false), undefined)).toEqual({ kind: 'request' });
  });

  it('answers the stored request again, whatever the order became', () => {
    expect(planCancel(advanced(1), request)).toEqual({ kind: 'replay', request });
    const done = cancelOrder(placed(), request, { step: null, nodeId: null }, at(1));
    expect(planCancel(done, undefined)).toMatchObject({ kind: 'replay', request });
  });

  it('refuses an ended order and a failure rolling back', () => {
    expect(planCancel(advanced(4, false), undefined)).toMatchObject({ kind: 'refuse' });
    const failing = failStep(advanced(1), 'pre-processing', 'n1', at(4), 'boom');
    expect(planCancel(failing, undefined)).toMatchObject({
      kind: 'refuse',
      reason: expect.stringMatching(/rolling back after pre-processing failed: it will end failed/),
    });
    expect(cancelOutcome(failing)).toBe('failed');
  });
});

describe('cancelOrder', () => {
  it('stops the running step and rolls back the completed ones, ending cancelled', () => {
    const cancelled = cancelOrder(advanced(2), request, { step: 'processing', nodeId: 'n1' }, at(4));
    expect(cancelled.status).toBe('rolling_back');
    expect(cancelled.steps.map((s) => s.status)).toEqual(['completed', 'completed', 'cancelled', 'pending']);
    expect(cancelled.steps[2]!.attempts.map((a) => a.outcome)).toEqual(['cancelled']);
    expect(cancelled.cancellation).toMatchObject({ ...request, step: 'processing', node_id: 'n1' });
    expect(planStep(cancelled, 'processing')).toEqual({ kind: 'resume-rollback' });
    const ended = rolledBack(cancelled);
    expect(ended).toMatchObject({ status: 'cancelled', current_step: 'cancelled', failure: null });
    expect(cancelOutcome(ended)).toBe('cancelled');
    expect(planStep(ended, 'processing')).toEqual({ kind: 'failed' });
    expect(planStep(ended, 'post-processing')).toMatchObject({ kind: 'refuse' });
  });

  it('commits a step whose work was done, then undoes it with the others', () => {
    const cancelled = cancelOrder(
      advanced(3),
      request,
      { step: 'post-processing', nodeId: 'n1', workDone: true },
      at(4),
    );
    expect(cancelled.steps.every((s) => s.status === 'completed')).toBe(true);
    expect(rolledBack(cancelled).rollback.map((r) => r.step)).toEqual([...STEPS].reverse());
  });

  it('ends an order with nothing to undo at once, and refuses an ended or failing one', () => {
    const ended = cancelOrder(placed(), request, { step: null, nodeId: null }, at(1));
    expect(ended).toMatchObject({ status: 'cancelled', completed_at: at(1).toISOString() });
    expect(() => cancelOrder(ended, request, { step: null, nodeId: null }, at(2))).toThrow(TransitionError);
    const failing = failStep(advanced(1), 'pre-processing', 'n1', at(4), 'boom');
    expect(() => cancelOrder(failing, request, { step: 'pre-processing', nodeId: 'n1' }, at(5))).toThrow(
      TransitionError,
    );
  });
});

describe('eventsBetween', () => {
  it('names each change once, in the order it happened, the end last', () => {
    const running = advanced(1);
    expect(eventsBetween(placed(), running).map((e) => `${e.type} ${e.step ?? ''}`)).toEqual([
      'step-started scheduling',
      'step-completed scheduling',
      'step-started pre-processing',
    ]);
    const cancelled = cancelOrder(running, request, { step: 'pre-processing', nodeId: 'n1' }, at(4));
    expect(eventsBetween(running, cancelled).map((e) => e.type)).toEqual(['step-cancelled']);
    const ended = rolledBack(cancelled);
    expect(eventsBetween(cancelled, ended).map((e) => `${e.type} ${e.step ?? ''}`)).toEqual([
      'compensation-started scheduling',
      'compensation-completed scheduling',
      'order-cancelled ',
    ]);
    expect(eventsBetween(ended, ended)).toEqual([]);
  });
});

describe('checkCancelled', () => {
  it('accepts undos of exactly the completed steps, newest first, and names any other record', () => {
    const good = rolledBack(cancelOrder(advanced(2), request, { step: 'processing', nodeId: 'n1' }, at(4)));
    expect(checkCancelled([good, advanced(4, false)])).toEqual({ cancelled: 1, violations: [] });
    const wrong: OrderRecord = { ...good, rollback: [...good.rollback].reverse() };
    expect(checkCancelled([wrong]).violations).toEqual([
      `${good.order_id}: undone scheduling,pre-processing, compensated scheduling,pre-processing`,
    ]);
  });
});
