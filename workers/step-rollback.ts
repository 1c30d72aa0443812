// The saga's rollback of a failed step: undo the completed steps in reverse order, each as a fenced
// record change, resume the undo of a run that died, and give up once too many runs were lost.
import { UnrecoverableError } from 'bullmq';
import type { StepName } from '../shared/domain/order.js';
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
import type { RunWriter } from './run-writer.js';
import type { StepObserver } from './step-processor.js';

export interface RollbackRun {
  step: StepName;
  nodeId: string;
  write: RunWriter['write'];
  log: Logger;
  observer: StepObserver;
  now: () => Date;
  sleep: (ms: number) => Promise<void>;
  compensationMs: number;
  /** Runs of the rollback lost to dead nodes before it is given up. */
  maxRollbackCrashes: number;
}

/** Undoes every completed step of the order, newest first, then ends it failed; always throws. */
export async function rollBack(run: RollbackRun, current: VersionedOrder): Promise<never> {
  for (const undo of pendingCompensations(current.order)) {
    current = await run.write(current, startCompensation(current.order, undo, run.nodeId, run.now()));
    run.log.info({ event: 'compensation-started', compensated_step: undo });
    await run.sleep(run.compensationMs);
    current = await run.write(current, completeCompensation(current.order, undo, run.now()));
  }
  current = await run.write(current, finishRollback(current.order, run.now()));
  run.observer.orderFinished?.(current.order);
  run.log.info({ event: 'order-failed', reason: current.order.failure?.reason });
  throw new UnrecoverableError(current.order.failure?.reason ?? `${run.step} failed`);
}

/**
 * Resumes the rollback an earlier run left (its node died or lost the lock), unless the rollback
 * lost its node `maxRollbackCrashes` times already: an undo that keeps killing its node would
 * otherwise be resumed forever, leaving the order `rolling_back`. Then the order ends `failed`
 * with `rollback_failure` naming the undo it stopped at and the steps left in effect.
 */
export async function resumeRollback(run: RollbackRun, current: VersionedOrder): Promise<never> {
  const lost = lostRollbackRuns(current.order);
  const limit = run.maxRollbackCrashes;
  if (lost < limit || pendingCompensations(current.order).length === 0) {
    run.log.info({ event: 'rollback-resumed', lost_runs: lost });
    return rollBack(run, current);
  }
  const reason = `rollback lost its node ${lost} times (limit ${limit})`;
  const given = (await run.write(current, abandonRollback(current.order, run.now(), reason))).order;
  const left = given.rollback_failure!.not_compensated;
  run.observer.orderFinished?.(given);
  run.log.error(
    { event: 'rollback-abandoned', reason, open_undo: given.rollback_failure!.step, not_compensated: left },
    'rollback given up: steps left not compensated',
  );
  const failure = given.failure?.reason ?? `${run.step} failed`;
  throw new UnrecoverableError(`${failure}; ${reason}: ${left.join(', ')} not compensated`);
}
