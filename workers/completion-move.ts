// How a step's run reaches BullMQ's move of its job, so that its completion write is folded into
// that move (docs/adr/0023). The GatedWorker offers the move for each job it processes; the run
// takes it for its completion write; the Worker then finds the job moved and does not move it again.
import type { Job } from 'bullmq';

/** BullMQ's move of one job to completed, as the run folds it into its completion write. */
export interface CompletionMove {
  /** BullMQ's keys and arguments of the move now, `returnValue` the job's result as JSON. */
  args(returnValue: string): readonly unknown[];
  /** The fold landed with BullMQ's reply `moved`: the job is completed, its lock released. */
  landed(moved: unknown): void;
}

const moves = new WeakMap<Job, CompletionMove>();

/** Offers `move` to the run of `job`. */
export function offerMove(job: Job, move: CompletionMove): void {
  moves.set(job, move);
}

/** The move offered for `job`: absent when the job was not processed by a GatedWorker (tests). */
export function moveOf(job: Job): CompletionMove | undefined {
  return moves.get(job);
}
