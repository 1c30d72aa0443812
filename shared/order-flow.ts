// The BullMQ shape of an order: a four-job chain in the order's shard queue, leaf first.
import type { FlowJob, JobsOptions } from 'bullmq';
import { type OrderRecord, STEPS, type StepName } from './domain/order.js';
import type { ShardKeys } from './keys.js';
import { stepJobId } from './order-id.js';

/** What every step job carries: enough to find the record without reading the parent chain. */
export interface StepJobData {
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
 * child fails the whole chain when a step fails, so no parent is left in waiting-children.
 */
export function orderFlow(
  order: Pick<OrderRecord, 'order_id' | 'user_id' | 'shard'>,
  keys: ShardKeys,
): FlowJob {
  let child: FlowJob | undefined;
  for (const step of STEPS) {
    const data: StepJobData = { order_id: order.order_id, user_id: order.user_id, shard: order.shard, step };
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
