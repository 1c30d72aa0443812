// The saga's side of a cancel: a run that met a cancel request (its forward write refused, or the
// node's watch saw it) takes it into the record and rolls back what completed; the order ends
// `cancelled`. The reconciler cancels a stopped chain with the same code.
import { UnrecoverableError } from 'bullmq';
import type { CancelRequest } from '../shared/domain/order.js';
import { type CancelPoint, cancelOrder, planStep } from '../shared/domain/transitions.js';
import type { OrderStore, VersionedOrder } from '../shared/order-store.js';
import { CancelRequestedError } from './run-writer.js';
import { endedReason, type RollbackRun, resumeRollback, rollBack } from './step-rollback.js';

/** Writes the cancellation over `current`, then undoes the completed steps newest first. Always throws. */
export async function cancelAndRollBack(
  run: RollbackRun,
  current: VersionedOrder,
  request: CancelRequest,
  point: CancelPoint,
): Promise<never> {
  const cancelled = await run.write(current, cancelOrder(current.order, request, point, run.now()));
  const { requested_by } = request;
  run.log.info({ event: 'order-cancelling', work_done: point.workDone ?? false, requested_by });
  if (cancelled.order.status !== 'cancelled') return rollBack(run, cancelled);
  run.observer.orderFinished?.(cancelled.order);
  run.log.info({ event: 'order-cancelled' });
  throw new UnrecoverableError(endedReason(cancelled.order, run.step));
}

/**
 * A run's cancel: reads the record again (the request, and the version after an API write), then
 * cancels from there; `workDone` when the step's handler had finished. Always throws.
 */
export async function cancelRun(
  run: RollbackRun,
  orders: Pick<OrderStore, 'read'>,
  orderId: string,
  workDone: boolean,
): Promise<never> {
  const fresh = await orders.read(orderId);
  if (!fresh) throw new UnrecoverableError(`order ${orderId} has no record (expired or never stored)`);
  const plan = planStep(fresh.order, run.step);
  if (plan.kind === 'resume-rollback') return resumeRollback(run, fresh);
  // Ended by the API (never started), or ended already: nothing of this run to write.
  if (plan.kind !== 'run' && plan.kind !== 'done')
    throw new UnrecoverableError(endedReason(fresh.order, run.step));
  const request = fresh.cancelRequest;
  if (!request) throw new Error(`order ${orderId}: a cancel was seen but no request is stored`);
  return cancelAndRollBack(run, fresh, request, { step: run.step, nodeId: run.nodeId, workDone });
}

/** Runs `go`; if it meets a cancel request, `onCancel` instead (which never returns). */
export async function cancellable<T>(go: () => Promise<T>, onCancel: () => Promise<never>): Promise<T> {
  try {
    return await go();
  } catch (error) {
    if (!(error instanceof CancelRequestedError)) throw error;
    return onCancel();
  }
}
