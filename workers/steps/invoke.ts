// The engine's side of the handler contract: the context it gives a handler, and how it reads what
// a handler call ended with. The step processor and the rollback both call handlers through here.
import { UnrecoverableError } from 'bullmq';
import { cloneOrder, type OrderRecord, type StepName } from '../../shared/domain/order.js';
import type { Logger } from '../../shared/logger.js';
import { LockLostError, RunEndedError } from '../run-writer.js';
import { failureReason, isBusinessFailure, type StepContext } from './contract.js';

/**
 * The reason to give `Worker.cancelJob` when BullMQ could not renew a job's lock: the run's handler
 * is then stopped as after a refused write, since another run may own the step already.
 */
export const LOCK_RENEWAL_FAILED = 'lock-renewal-failed';

/**
 * Aborts `stop` when `jobSignal` aborts, with its reason. Given the `jobId` whose signal BullMQ
 * aborts (`Worker.cancelJob`), a failed renewal becomes a lost lock. Returns the unsubscribe.
 */
export function follow(
  jobSignal: AbortSignal | undefined,
  stop: AbortController,
  jobId?: string,
): () => void {
  if (!jobSignal) return () => {};
  const abort = () =>
    stop.abort(
      jobId !== undefined && jobSignal.reason === LOCK_RENEWAL_FAILED
        ? new LockLostError(jobId, 'renewal-failed')
        : jobSignal.reason,
    );
  if (jobSignal.aborted) abort();
  else jobSignal.addEventListener('abort', abort, { once: true });
  return () => jobSignal.removeEventListener('abort', abort);
}

/** What a run passes on to every handler it calls. */
export interface HandlerRun {
  nodeId: string;
  log: Logger;
  signal: AbortSignal;
}

/**
 * Errors by which the engine itself ends a run: the job is settled (UnrecoverableError, no retry)
 * or the run is no longer this node's (RunEndedError: a lost lock, a stale copy). Anything else
 * that reaches the processor is an infrastructure error, recorded and retried.
 */
export const endsRun = (error: unknown): boolean =>
  error instanceof UnrecoverableError || error instanceof RunEndedError;

/**
 * The context of doing `step` (`run`) or undoing it (`compensate`), from the record its start write
 * committed. The order is a copy: the engine writes its next transition from its own.
 */
export function contextOf(
  kind: 'run' | 'compensate',
  order: OrderRecord,
  step: StepName,
  run: HandlerRun,
): StepContext {
  const attempts =
    kind === 'run'
      ? order.steps.find((s) => s.name === step)?.attempts
      : order.rollback.find((r) => r.step === step && r.completed_at === null)?.attempts;
  return {
    order: cloneOrder(order),
    step,
    attempt: Math.max(1, attempts?.length ?? 0),
    nodeId: run.nodeId,
    log: kind === 'run' ? run.log : run.log.child({ compensated_step: step }),
    signal: run.signal,
  };
}

/**
 * Calls a handler. Resolves to null when it succeeded and to the reason when it failed for good (a
 * business failure); rethrows anything else as an error for BullMQ to retry.
 */
export async function invoke(call: () => Promise<void>, signal: AbortSignal): Promise<string | null> {
  try {
    await call();
    return null;
  } catch (error) {
    // Whatever a handler throws once its run lost the lock, the run is over: neither failed nor errored.
    if (signal.aborted && endsRun(signal.reason)) throw signal.reason;
    if (isBusinessFailure(error)) return failureReason(error);
    if (!(error instanceof Error)) throw new Error(`handler threw ${String(error)}`);
    // Only the engine settles a job: an UnrecoverableError of a handler's would skip retry and rollback.
    if (endsRun(error)) throw new Error(`handler threw ${error.name}: ${error.message}`, { cause: error });
    throw error;
  }
}
