// What a step's work is to the saga engine: a handler with `run` and `compensate`, and two kinds of
// error. The engine owns the record, the lock, retries and the rollback; a handler only does work.
import { type OrderRecord, STEPS, type StepName } from '../../shared/domain/order.js';
import type { Logger } from '../../shared/logger.js';

type DeepReadonly<T> = T extends (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

/** The order as a handler sees it: a copy of the record, so nothing a handler does reaches the store. */
export type OrderView = DeepReadonly<OrderRecord>;

/** Everything a handler gets for one run of a step, or one run of the undo of a step. */
export interface StepContext {
  /** The record as this run committed its start (the step `running`, or its undo open). */
  readonly order: OrderView;
  /** The step to do or undo. */
  readonly step: StepName;
  /**
   * Which run this is, counted in the record from 1: every run that got as far as its start write,
   * whether it ended by an error, a dead node or a lost lock. Not for idempotency keys: a retry must
   * reuse the key of the run it repeats.
   */
  readonly attempt: number;
  readonly nodeId: string;
  /** Bound to order_id and step (and compensated_step for an undo). */
  readonly log: Logger;
  /**
   * Aborted when this run may no longer change anything: its lock is lost (a fenced write was
   * refused, or BullMQ could not renew the lock) or the job was cancelled through BullMQ. Whatever
   * the handler does after that is done again by the run that owns the step now, so it should stop
   * and throw (`ctx.signal.throwIfAborted()`). A graceful drain does not abort it: a drain finishes
   * the steps in flight.
   */
  readonly signal: AbortSignal;
}

/**
 * The work of one step. Either may run more than once for the same order and step (a retry after an
 * infrastructure error, a run taken over from a paused or dead node), so each must be idempotent:
 * key side effects by order id and step, never by attempt.
 */
export interface StepHandler {
  /** Does the step. Throw a StepFailure to fail it for good (the order rolls back); any other error is retried. */
  run(ctx: StepContext): Promise<void>;
  /**
   * Undoes a step that completed. Any error is retried; a StepFailure (the undo is refused for good)
   * gives the rollback up, leaving the order `failed` with `rollback_failure` for an operator.
   */
  compensate(ctx: StepContext): Promise<void>;
}

/** The handler of every step. */
export type StepHandlers = Readonly<Record<StepName, StepHandler>>;

/** One handler for all four steps (it tells them apart by `ctx.step`). */
export function everyStep(handler: StepHandler): StepHandlers {
  return Object.fromEntries(STEPS.map((step) => [step, handler])) as Record<StepName, StepHandler>;
}

/**
 * A business failure: the step cannot succeed however often it is tried (a declined card, an item
 * out of stock). Non-retryable is a property of the error, as Temporal's
 * `ApplicationFailure.nonRetryable`, so an error class of a handler's own can opt in too.
 */
export class StepFailure extends Error {
  readonly nonRetryable = true as const;

  constructor(
    /** Recorded as the order's `failure.reason`. */
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(reason, options);
    this.name = 'StepFailure';
  }
}

/** The one test of what a handler threw: a business failure, or an infrastructure error (retried). */
export function isBusinessFailure(error: unknown): error is Error & { nonRetryable: true } {
  return error instanceof Error && (error as { nonRetryable?: unknown }).nonRetryable === true;
}

/** What a business failure records as its reason: its `reason` when it has one, else its message. */
export function failureReason(error: Error): string {
  const reason = (error as { reason?: unknown }).reason;
  return typeof reason === 'string' && reason !== '' ? reason : error.message;
}
