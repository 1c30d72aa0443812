// The order's state machine: each function returns the next record or throws; nothing here does I/O.
import {
  type Attempt,
  type CancelRequest,
  cloneOrder,
  isTerminal,
  type OrderRecord,
  type RollbackEntry,
  STEPS,
  type StepName,
  type StepRecord,
} from './order.js';

/** A transition that the record's current state does not allow. */
export class TransitionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = this.constructor.name;
  }
}

/** What a (possibly resumed) run of a step must do, read from the record alone. */
export type StepPlan =
  | { kind: 'run' }
  | { kind: 'done' } // committed by an earlier run whose job did not finish: only finish the job
  | { kind: 'resume-rollback' } // an earlier run failed the step and died while compensating
  | { kind: 'failed' } // already failed and rolled back: only fail the job
  | { kind: 'refuse'; reason: string };

const stepOf = (order: OrderRecord, name: StepName): StepRecord => {
  const step = order.steps.find((s) => s.name === name);
  if (!step) throw new TransitionError(`order ${order.order_id} has no step ${name}`);
  return step;
};

const iso = (now: Date) => now.toISOString();

/** Runs still marked running belong to a dead node (or one that lost the lock): abandoned. */
const abandonRunning = (attempts: Attempt[] = []) => {
  for (const attempt of attempts) if (attempt.outcome === 'running') attempt.outcome = 'abandoned';
};

/**
 * The rollback is over, finished or given up: the order ends failed, or cancelled when a cancellation
 * (not a failure) started it and it was not given up.
 */
function endRollback(next: OrderRecord, now: Date): OrderRecord {
  const end = next.cancellation && !next.failure && !next.rollback_failure ? 'cancelled' : 'failed';
  next.status = end;
  next.current_step = end;
  next.completed_at = iso(now);
  return next;
}

/** The step a rollback undoes up to: the failed step, or the step a cancellation stopped at. */
export const haltedStep = (order: OrderRecord): StepName | null =>
  order.failure?.step ?? order.cancellation?.step ?? null;

/** Decides how a run of `name` proceeds given what the record already holds. */
export function planStep(order: OrderRecord, name: StepName): StepPlan {
  const step = stepOf(order, name);
  if (step.status === 'completed' || step.status === 'compensated') return { kind: 'done' };
  if (haltedStep(order) === name) {
    return order.status === 'rolling_back' ? { kind: 'resume-rollback' } : { kind: 'failed' };
  }
  if (isTerminal(order.status) || order.status === 'rolling_back') {
    return { kind: 'refuse', reason: `order is ${order.status}` };
  }
  const index = STEPS.indexOf(name);
  const previous = order.steps.slice(0, index).find((s) => s.status !== 'completed');
  if (previous) return { kind: 'refuse', reason: `step ${previous.name} is ${previous.status}` };
  return { kind: 'run' };
}

/** A run of `name` starts on `nodeId`; an earlier unfinished attempt is marked abandoned. */
export function startStep(order: OrderRecord, name: StepName, nodeId: string, now: Date): OrderRecord {
  const plan = planStep(order, name);
  if (plan.kind !== 'run') throw new TransitionError(`cannot start ${name}: ${plan.kind}`);
  const next = cloneOrder(order);
  const step = stepOf(next, name);
  abandonRunning(step.attempts);
  step.status = 'running';
  step.started_at = iso(now);
  step.completed_at = null;
  step.node_id = nodeId;
  step.attempts.push({ node_id: nodeId, started_at: iso(now), ended_at: null, outcome: 'running' });
  next.status = 'in_progress';
  next.current_step = name;
  next.started_at ??= iso(now);
  return next;
}

function endAttempt(
  step: StepRecord,
  nodeId: string | null,
  now: Date,
  outcome: 'completed' | 'failed' | 'error' | 'cancelled',
) {
  const attempt = step.attempts.at(-1);
  if (attempt?.outcome !== 'running' || attempt.node_id !== nodeId) {
    throw new TransitionError(`step ${step.name} has no running attempt of ${nodeId}`);
  }
  attempt.outcome = outcome;
  attempt.ended_at = iso(now);
}

/** The running step succeeded; the last step completes the order. */
export function completeStep(order: OrderRecord, name: StepName, nodeId: string, now: Date): OrderRecord {
  const next = cloneOrder(order);
  const step = stepOf(next, name);
  endAttempt(step, nodeId, now, 'completed');
  step.status = 'completed';
  step.completed_at = iso(now);
  const following = STEPS[STEPS.indexOf(name) + 1];
  if (following) {
    next.current_step = following;
  } else {
    next.status = 'completed';
    next.current_step = 'completed';
    next.completed_at = iso(now);
  }
  return next;
}

/** The running attempt hit an infrastructure error and will be retried. */
export function erroredStep(order: OrderRecord, name: StepName, nodeId: string, now: Date): OrderRecord {
  const next = cloneOrder(order);
  endAttempt(stepOf(next, name), nodeId, now, 'error');
  return next;
}

/**
 * The step failed for good (a business failure, or too many of its runs lost to dead nodes): the
 * order starts rolling back. A run still marked running by another (dead) node is abandoned.
 */
export function failStep(
  order: OrderRecord,
  name: StepName,
  nodeId: string,
  now: Date,
  reason: string,
): OrderRecord {
  if (planStep(order, name).kind !== 'run')
    throw new TransitionError(`cannot fail ${name} of a ${order.status} order`);
  const next = cloneOrder(order);
  const step = stepOf(next, name);
  const last = step.attempts.at(-1);
  if (last?.outcome === 'running' && last.node_id === nodeId) endAttempt(step, nodeId, now, 'failed');
  abandonRunning(step.attempts);
  step.status = 'failed';
  step.completed_at = iso(now);
  step.node_id = nodeId;
  next.status = 'rolling_back';
  next.current_step = name;
  next.started_at ??= iso(now);
  next.failure = { step: name, reason };
  return next;
}

/** Completed steps still to undo, in the order to undo them (reverse of execution). */
export function pendingCompensations(order: OrderRecord): StepName[] {
  return order.steps
    .filter((s) => s.status === 'completed')
    .map((s) => s.name)
    .reverse();
}

/** The run of the undo under way, if any: the last attempt of the open rollback entry. */
const openUndo = (order: OrderRecord): { entry: RollbackEntry; run: Attempt | undefined } | undefined => {
  const entry = order.rollback.find((r) => r.completed_at === null);
  return entry && { entry, run: entry.attempts?.at(-1) };
};

/**
 * Undoing `name` starts; a resumed undo replaces the unfinished entry of a dead node, keeping that
 * node's run in the entry's attempts as `abandoned` (one that ended by an error stays `error`).
 */
export function startCompensation(
  order: OrderRecord,
  name: StepName,
  nodeId: string,
  now: Date,
): OrderRecord {
  if (order.status !== 'rolling_back' || stepOf(order, name).status !== 'completed') {
    throw new TransitionError(`cannot compensate ${name} of a ${order.status} order`);
  }
  const next = cloneOrder(order);
  const open = next.rollback.findIndex((r) => r.step === name && r.completed_at === null);
  const attempts = open === -1 ? [] : (next.rollback[open]!.attempts ?? []);
  abandonRunning(attempts);
  attempts.push({ node_id: nodeId, started_at: iso(now), ended_at: null, outcome: 'running' });
  const entry: RollbackEntry = { step: name, started_at: iso(now), completed_at: null, node_id: nodeId };
  entry.attempts = attempts;
  if (open === -1) next.rollback.push(entry);
  else next.rollback[open] = entry;
  return next;
}

/** Undoing `name` finished: the step is compensated. */
export function completeCompensation(order: OrderRecord, name: StepName, now: Date): OrderRecord {
  const next = cloneOrder(order);
  const entry = next.rollback.find((r) => r.step === name && r.completed_at === null);
  if (!entry) throw new TransitionError(`no compensation of ${name} is under way`);
  entry.completed_at = iso(now);
  const run = entry.attempts?.at(-1);
  if (run?.outcome === 'running') Object.assign(run, { outcome: 'completed', ended_at: iso(now) });
  stepOf(next, name).status = 'compensated';
  return next;
}

/**
 * An infrastructure error ended `nodeId`'s run of step `name`: its running attempt of the step, or
 * of the undo it had open while rolling back, ends as `error` (retried, not a lost node). Null when
 * the node runs neither, e.g. between two undos: there is nothing of its run to end.
 */
export function erroredRun(
  order: OrderRecord,
  name: StepName,
  nodeId: string,
  now: Date,
): OrderRecord | null {
  const last = stepOf(order, name).attempts.at(-1);
  if (last?.outcome === 'running' && last.node_id === nodeId) return erroredStep(order, name, nodeId, now);
  const undo = openUndo(order)?.run;
  if (order.status !== 'rolling_back' || undo?.outcome !== 'running' || undo.node_id !== nodeId) return null;
  const next = cloneOrder(order);
  Object.assign(openUndo(next)!.run!, { outcome: 'error', ended_at: iso(now) });
  return next;
}

/**
 * Runs of the rollback lost to dead nodes (or lost locks): abandoned undo runs, and a run still
 * marked running, which a run resuming the rollback holds the lock over, so whose node is gone.
 */
export function lostRollbackRuns(order: OrderRecord): number {
  return order.rollback
    .flatMap((entry) => entry.attempts ?? [])
    .filter((a) => a.outcome === 'abandoned' || a.outcome === 'running').length;
}

/** Every completed step is compensated: the order ends failed. */
export function finishRollback(order: OrderRecord, now: Date): OrderRecord {
  if (order.status !== 'rolling_back' || pendingCompensations(order).length > 0) {
    throw new TransitionError(`rollback of ${order.order_id} is not finished`);
  }
  return endRollback(cloneOrder(order), now);
}

/**
 * The rollback is given up (its runs kept losing their nodes): the order ends failed, the open undo
 * left open, its dead run abandoned; `rollback_failure` names the undo it stopped at, why, and the
 * steps still in effect. It does not skip to the earlier undos, which were written for a state
 * where the later steps were undone already: what is left is an operator's.
 */
export function abandonRollback(order: OrderRecord, now: Date, reason: string): OrderRecord {
  const pending = pendingCompensations(order);
  if (order.status !== 'rolling_back' || pending.length === 0) {
    throw new TransitionError(`rollback of ${order.order_id} has nothing left to give up`);
  }
  const next = cloneOrder(order);
  const open = openUndo(next);
  abandonRunning(open?.entry.attempts);
  next.rollback_failure = { step: open?.entry.step ?? pending[0]!, reason, not_compensated: pending };
  return endRollback(next, now);
}

/** Where a cancellation stops an order: the step whose run it ended (or whose run it kept from starting). */
export interface CancelPoint {
  /** null when no step had started (the API cancels such an order itself). */
  step: StepName | null;
  /** The node whose run stops, or null for the API. */
  nodeId: string | null;
  /** The step's handler had finished its work when the cancel was seen: the step is committed completed, then undone. */
  workDone?: boolean;
}

/**
 * The order is cancelled: the running step's run ends (`cancelled`, or `completed` when its work was
 * done), and the order rolls back its completed steps, newest first, or ends `cancelled` at once when
 * there are none. Only an order going forward can be cancelled: not one rolling back or ended.
 */
export function cancelOrder(
  order: OrderRecord,
  request: CancelRequest,
  { step, nodeId, workDone = false }: CancelPoint,
  now: Date,
): OrderRecord {
  if (isTerminal(order.status) || order.status === 'rolling_back') {
    throw new TransitionError(`cannot cancel a ${order.status} order`);
  }
  const next = cloneOrder(order);
  if (step) {
    const record = stepOf(next, step);
    const last = record.attempts.at(-1);
    if (record.status === 'running' && last?.outcome === 'running' && last.node_id === nodeId) {
      endAttempt(record, nodeId, now, workDone ? 'completed' : 'cancelled');
      record.status = workDone ? 'completed' : 'cancelled';
      record.completed_at = iso(now);
    }
    abandonRunning(record.attempts);
    if (record.status === 'running') record.status = 'cancelled'; // a dead node's run, stopped too
  }
  next.cancellation = { ...request, step, stopped_at: iso(now), node_id: nodeId };
  if (pendingCompensations(next).length === 0) {
    next.status = 'cancelled';
    next.current_step = 'cancelled';
    next.completed_at = iso(now);
  } else {
    next.status = 'rolling_back';
    if (step) next.current_step = step;
  }
  return next;
}
