// The BullMQ shape of an order: a four-job chain in the order's shard queue, leaf first.
import type { FlowJob, JobsOptions } from 'bullmq';
import { type OrderRecord, STEPS, type StepName } from './domain/order.js';
import type { ShardKeys } from './keys.js';
import { stepJobId } from './order-id.js';
import type { TraceCarrier } from './tracing.js';

/**
 * What every step job carries: enough to find the record without reading the parent chain, and, with
 * tracing on, the placement's W3C trace context, so every run of the step joins the order's trace
 * on whichever node it runs (docs/adr/0019).
 */
export interface StepJobData extends TraceCarrier {
  order_id: string;
  user_id: string;
  shard: number;
  step: StepName;
}

/** Infrastructure errors (timeouts, lost connections) are retried; business failures never are. */
export const STEP_JOB_OPTIONS: JobsOptions = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 500 },
  // The order record is the record of truth; finished jobs are kept only for the board and debugging.
  removeOnComplete: { age: 3600, count: 10_000 },
  removeOnFail: { age: 7 * 86_400, count: 10_000 },
};

/**
 * The chain of `order`: `post-processing` is the root and `scheduling` the leaf, so BullMQ runs
 * the leaf first and each parent only once its child completed. `failParentOnFailure` on every
 * child fails the whole chain when a step fails, so no parent is left in waiting-children. Each job
 * carries `traceContext` (empty with tracing off: nothing is added).
 */
export function orderFlow(
  order: Pick<OrderRecord, 'order_id' | 'user_id' | 'shard'>,
  keys: ShardKeys,
  traceContext: TraceCarrier = {},
): FlowJob {
  let child: FlowJob | undefined;
  for (const step of STEPS) {
    const { order_id, user_id, shard } = order;
    const data: StepJobData = { order_id, user_id, shard, step, ...traceContext };
    const node: FlowJob = {
      name: step,
      queueName: keys.queueName,
      prefix: keys.queuePrefix,
      data,
      opts: { ...STEP_JOB_OPTIONS, jobId: stepJobId(order.order_id, step), failParentOnFailure: true },
      children: child ? [child] : undefined,
    };
    child = node;
  }
  const root = child!;
  root.opts = { ...root.opts, failParentOnFailure: undefined };
  return root;
}
