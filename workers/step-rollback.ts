// The saga's rollback of a failed step: undo the completed steps in reverse order, each as a fenced
// record change around its handler's `compensate`, resume the undo of a run that died, and give up
// once too many runs were lost or an undo is refused for good.
import type { Tracer } from '@opentelemetry/api';
import { UnrecoverableError } from 'bullmq';
import type { OrderRecord, StepName } from '../shared/domain/order.js';
import {
  abandonRollback,
  completeCompensation,
  finishRollback,
  lostRollbackRuns,
  pendingCompensations,
  startCompensation,
} from '../shared/domain/transitions.js';
import type { Logger } from '../shared/logger.js';
import type { VersionedOrder } from '../shared/order-store.js';
import { inSpan } from '../shared/tracing.js';
import type { RunWriter } from './run-writer.js';
import type { StepObserver } from './step-processor.js';
import type { StepHandlers } from './steps/contract.js';
import { contextOf, invoke } from './steps/invoke.js';

export interface RollbackRun {
  step: StepName;
  nodeId: string;
  write: RunWriter['write'];
  log: Logger;
  observer: StepObserver;
  now: () => Date;
  /** Whose `compensate` undoes each step. */
  handlers: StepHandlers;
  /** Aborted once the run may no longer write (its lock or claim is gone): passed to each undo. */
  signal: AbortSignal;
  /** Runs of the rollback lost to dead nodes before it is given up. */
  maxRollbackCrashes: number;
  /** With tracing on: a span per undo, a child of the failed step's run. */
  tracer?: Tracer;
}

/** Undoes every completed step of the order, newest first, then ends it failed; always throws. */
export async function rollBack(run: RollbackRun, current: VersionedOrder): Promise<never> {
  for (const undo of pendingCompensations(current.order)) {
    current = await run.write(current, startCompensation(current.order, undo, run.nodeId, run.now()));
    run.log.info({ event: 'compensation-started', compensated_step: undo });
    const ctx = contextOf('compensate', current.order, undo, run);
    const attributes = {
      'orderflow.order_id': current.order.order_id,
      'orderflow.shard': current.order.shard,
      'orderflow.step': undo,
      'orderflow.failed_step': run.step,
      'orderflow.node_id': run.nodeId,
    };
    const refused = await inSpan(
      run.tracer,
      `compensate ${undo}`,
      { attributes },
      () => invoke(() => run.handlers[undo].compensate(ctx), run.signal),
      { done: (refusal) => ({ 'orderflow.outcome': refusal === null ? 'compensated' : 'refused' }) },
    );
    // Retrying an undo that is refused for good would loop (BullMQ's attempts, then every reconciler
    // pass): the order ends failed instead, what is still in effect named for an operator.
    if (refused !== null) return giveUp(run, current, `undo of ${undo} refused: ${refused}`);
    current = await run.write(current, completeCompensation(current.order, undo, run.now()));
  }
  current = await run.write(current, finishRollback(current.order, run.now()));
  run.observer.orderFinished?.(current.order);
  run.log.info({ event: `order-${current.order.status}`, reason: current.order.failure?.reason });
  throw new UnrecoverableError(endedReason(current.order, run.step));
}

/** Why an ended order's job ends failed: the failure's reason, or its cancellation. */
export function endedReason(order: OrderRecord, step: StepName): string {
  if (order.failure) return order.failure.reason;
  if (order.cancellation)
    return `order cancelled${order.cancellation.reason ? `: ${order.cancellation.reason}` : ''}`;
  return `${step} failed`;
}

/**
 * Resumes the rollback an earlier run left (its node died or lost the lock), unless the rollback
 * lost its node `maxRollbackCrashes` times already: an undo that keeps killing its node would
 * otherwise be resumed forever, leaving the order `rolling_back`.
 */
export async function resumeRollback(run: RollbackRun, current: VersionedOrder): Promise<never> {
  const lost = lostRollbackRuns(current.order);
  const limit = run.maxRollbackCrashes;
  if (lost < limit || pendingCompensations(current.order).length === 0) {
    run.log.info({ event: 'rollback-resumed', lost_runs: lost });
    return rollBack(run, current);
  }
  return giveUp(run, current, `rollback lost its node ${lost} times (limit ${limit})`);
}

/** Ends the order `failed` with `rollback_failure` naming the undo it stopped at and the steps left in effect. */
async function giveUp(run: RollbackRun, current: VersionedOrder, reason: string): Promise<never> {
  const given = (await run.write(current, abandonRollback(current.order, run.now(), reason))).order;
  const left = given.rollback_failure!.not_compensated;
  run.observer.orderFinished?.(given);
  run.log.error(
    { event: 'rollback-abandoned', reason, open_undo: given.rollback_failure!.step, not_compensated: left },
    'rollback given up: steps left not compensated',
  );
  const failure = endedReason(given, run.step);
  throw new UnrecoverableError(`${failure}; ${reason}: ${left.join(', ')} not compensated`);
}
